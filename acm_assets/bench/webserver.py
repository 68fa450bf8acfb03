"""A Dagster webserver process (`dagster-webserver` or `dagster dev`) driven through GraphQL as the UI drives
it: shared by the partitions benchmark and the UI tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


class GraphQLError(RuntimeError):
    """The server answered with GraphQL errors (their messages are the exception's)."""


@dataclass(frozen=True)
class WebServer:
    port: int
    log: Path
    query_timeout_s: float = 30

    def query(self, text: str, **variables) -> dict:
        """POST one GraphQL document and return its data."""
        body = json.dumps({"query": text, "variables": variables}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.query_timeout_s) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise GraphQLError(f"GraphQL errors: {[e.get('message') for e in answer['errors']]}")
        return answer["data"]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(
    command: list[str], *, port: int, cwd: Path, env: Mapping[str, str], log: Path, location: str,
    start_timeout_s: float, query_timeout_s: float = 30,
) -> Iterator[WebServer]:  # fmt: skip
    """Starts `command` (serving on `port`) in its own process group, yields once `location` has loaded, and
    kills the group at the end, whatever happened."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        server = WebServer(port, log, query_timeout_s)
        _wait_until_loaded(server, process, location, start_timeout_s)
        yield server
    finally:
        _stop(process)


def _wait_until_loaded(server: WebServer, process: subprocess.Popen, location: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the webserver exited with {process.returncode}:\n{server.log_tail()}")
        try:
            entries = server.query(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
            continue
        entry = next((e for e in entries if e["name"] == location), None)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"]
            if loaded["__typename"] != "RepositoryLocation":
                raise RuntimeError(f"code location {location} failed to load: {loaded.get('message')}")
            return
        time.sleep(0.5)
    raise RuntimeError(f"the webserver did not load {location} within {timeout_s} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, then SIGKILL: code servers and run workers can outlive a polite stop."""
    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of an exited leader
    except ProcessLookupError:
        pass
