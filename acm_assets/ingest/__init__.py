"""Historian ingest: strict readers for exports and SQL tables. No Dagster here."""
