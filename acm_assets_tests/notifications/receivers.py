"""Real receivers on loopback: an HTTP webhook endpoint (http.server in a thread) and an SMTP server
(aiosmtpd), each able to go down and come back on the same port, and an HTTP one able to hang a request."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebhookReceiver:
    """Records the `text` of each POST it answered 200 (what a Slack channel would show)."""

    def __init__(self):
        self.port = free_port()
        self.texts: list[str] = []
        self.keys: list[str] = []
        self.hang_after: int | None = None  # answer this many, then hold every later request unanswered
        self.hanging = threading.Event()
        self.release = threading.Event()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T000/B000/secret-token"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.hang_after is not None and len(receiver.texts) >= receiver.hang_after:
                    receiver.hanging.set()
                    receiver.release.wait(30)
                    return
                receiver.texts.append(body["text"])
                receiver.keys.append(self.headers["Idempotency-Key"])
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SmtpReceiver:
    """Records each e-mail accepted (subject, body, Message-ID)."""

    def __init__(self):
        self.port = free_port()
        self.mails: list[dict] = []
        self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpReceiver:
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes, policy

                mail = message_from_bytes(envelope.content, policy=policy.default)
                body = mail.get_content().strip().replace("\r\n", "\n")
                receiver.mails.append({"subject": mail["Subject"], "body": body,
                                       "message_id": mail["Message-ID"], "to": envelope.rcpt_tos})
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
