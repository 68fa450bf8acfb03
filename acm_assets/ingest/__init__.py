"""Historian ingest: strict readers for exports and SQL tables, and the equipment simulator. No Dagster here."""
