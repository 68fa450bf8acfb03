"""The one exception type for bad historian input, so callers can catch ingest problems without
catching programming errors."""

from __future__ import annotations


class IngestError(ValueError):
    """Bad input: the message names the source (file path, table or equipment) and what is wrong."""
