"""Synthetic equipment: the simulator with exactly labelled faults and the demo's history. No Dagster here."""
