"""Resources: the ACM database (historian tables and scoring output tables) on one SQLAlchemy URL, and the
notification targets."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from acm_assets.database import acm_home, create_engine, default_database_url
from acm_assets.ingest.historian import HistorianStore
from acm_assets.ingest.tags import TagLimit
from acm_assets.notifications.delivery import EmailSender, WebhookSender
from acm_assets.notifications.outbox import Outbox
from acm_assets.outputs.limits import load_limits_file
from acm_assets.outputs.schema import OUTPUT_TABLES
from acm_assets.outputs.store import OutputStore
from acm_assets.outputs.triage import create_triage_table
from acm_assets.registry.errors import RegistrySchemaError
from acm_assets.registry.schema import create_registry_table
from acm_assets.registry.store import ModelStore


class AcmDatabase(dg.ConfigurableResource):
    """Where the historian and output tables live (e.g. `dg.EnvVar("ACM_DATABASE_URL")`)."""

    database_url: str | None = None
    """SQLAlchemy URL; None: the embedded SQLite default under $ACM_HOME."""

    _stores: tuple[HistorianStore, OutputStore] | None = PrivateAttr(default=None)

    def _open(self) -> tuple[HistorianStore, OutputStore]:
        """One engine per process; missing tables are created (an existing ModelRegistry is left as it is)."""
        if self._stores is None:
            engine = create_engine(self.database_url or default_database_url())
            historian, outputs = HistorianStore(engine), OutputStore(engine, OUTPUT_TABLES)
            _create_once(historian.create_tables, outputs.create_tables, lambda: create_triage_table(engine),
                         lambda: Outbox(engine).create_table(),
                         lambda: create_registry_table(engine))
            self._stores = historian, outputs
        return self._stores

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._stores is not None:
            self._stores[0].engine.dispose()
            self._stores = None

    @property
    def historian(self) -> HistorianStore:
        return self._open()[0]

    @property
    def outputs(self) -> OutputStore:
        return self._open()[1]

    @property
    def model_store(self) -> ModelStore:
        """Read-only lookups (e.g. "has this equipment a complete version?"); models load via the IO manager."""
        return ModelStore(self.historian.engine)


class TagLimits(dg.ConfigurableResource):
    """Configured tag limits (`$ACM_TAG_LIMITS`, a JSON file; see acm_assets/outputs/limits.py), beside those of
    the historian's tag metadata. Read when a run starts, so an edit counts from the next run."""

    path: str | None = None
    """The limits file; None: only the historian's limits."""

    def by_equipment(self) -> dict[str, dict[str, TagLimit]]:
        return {} if not self.path else load_limits_file(self.path)


class FleetPageFolder(dg.ConfigurableResource):
    """Where the daily fleet health page is written (`$ACM_FLEET_PAGE_DIR`)."""

    path: str | None = None
    """A folder; None: `fleet/` beside the embedded database, under $ACM_HOME."""

    def folder(self) -> Path:
        return Path(self.path) if self.path else acm_home() / "fleet"


def _create_once(*creators, attempts: int = 5) -> None:
    """Create missing tables. Processes starting together race on CREATE TABLE (PostgreSQL reports a
    duplicate type): the loser tries again and then finds the tables there."""
    for create in creators:
        for attempt in range(1, attempts + 1):
            try:
                create()
                break
            except (sa.exc.DBAPIError, RegistrySchemaError):
                if attempt == attempts:
                    raise
                time.sleep(0.1 * attempt)


class NotificationTargets(dg.ConfigurableResource):
    """Where episode notifications go: a webhook (`dg.EnvVar("ACM_NOTIFY_WEBHOOK_URL")`) and e-mail over SMTP
    (`ACM_SMTP_URL`, `ACM_NOTIFY_EMAIL_TO`). The URLs carry secrets: they are never logged."""

    webhook_url: str | None = None
    smtp_url: str | None = None
    email_to: str | None = None
    email_from: str = "acm@localhost"
    rate_limit_per_hour: int = 6
    """Sends per equipment and channel in any hour; a backlog beyond goes as one digest."""
    timeout_s: float = 10.0

    def senders(self) -> dict:
        """channel -> sender, for each target configured (none: notifications are off)."""
        found = {}
        if self.webhook_url:
            found["webhook"] = WebhookSender(self.webhook_url, self.timeout_s)
        if self.smtp_url and self.email_to:
            found["email"] = EmailSender(self.smtp_url, self.email_to, self.email_from, self.timeout_s)
        return found
