"""Registry failures an operator can act on; each message names equipment, version and model type."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from acm_assets.database import redact


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


class IncompleteRunError(RegistryError):
    """A run's version cannot complete: rows it wrote earlier are gone."""


class IntegrityError(RegistryError):
    """Stored bytes fail their SHA-256 or HMAC check, or cannot be unpickled: refused, never a fallback."""


def describe_database_error(exc: sa.exc.DBAPIError, url: str | URL) -> str:
    """A one-line reason for a driver failure with the URL's password masked (drivers may echo it)."""
    reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    password = make_url(url).password
    if password:
        reason = reason.replace(str(password), "***")
    return f"database {redact(url)} failed: {type(exc.orig).__name__}: {reason}"
