"""Registry failures an operator can act on; each message names equipment, version and model type."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL

from acm_assets.database import driver_reason, redact


class RegistryError(RuntimeError):
    """Base class of every ModelRegistry failure."""


class RegistrySchemaError(RegistryError):
    """The table is missing, incompatible, or the database cannot be reached."""


class UnknownEquipmentError(RegistryError):
    """An equipment code has no row in the Equipment table."""


class ModelTypeError(RegistryError):
    """A model type does not fit `ModelType VARCHAR(16)` or is reserved."""


class VersionNotFoundError(RegistryError):
    """No complete version (or not the requested one, or not the requested type) exists."""


class SerializationError(RegistryError):
    """A model object cannot be pickled."""


class InconsistentVersionError(RegistryError):
    """A version's models were not fitted on one training data set, or not on the upstream models it holds."""


class SupersededBaseError(InconsistentVersionError):
    """A version would carry models from a base that another version superseded while the run ran: committing
    it would silently make the newer version's models (a full retrain, say) no longer the latest."""

    def __init__(self, equipment, version: int, base: int, latest: int, trained: list[str]):
        self.base, self.latest = base, latest
        super().__init__(
            f"refusing to commit version {version} of equipment {equipment}: {', '.join(trained)} were fitted against "
            f"version {base}, but version {latest} committed while this run ran and is now the latest; committing "
            f"would carry the other models from v{base} over it. Launch the rerun again as a new run (not a "
            f"re-execution) to fit against v{latest}"
        )


class IncompleteRunError(RegistryError):
    """A run's version cannot complete: rows it wrote earlier are gone."""


class IntegrityError(RegistryError):
    """Stored bytes fail their SHA-256 or HMAC check, or cannot be unpickled: refused, never a fallback."""


def describe_database_error(exc: sa.exc.DBAPIError, url: str | URL) -> str:
    """A one-line reason for a driver failure with the URL's password masked (drivers may echo it)."""
    return f"database {redact(url)} failed: {driver_reason(exc.orig, url)}"
