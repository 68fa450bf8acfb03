"""Software-defined assets: ingest, training and scoring groups, and their checks."""
