"""Asset Condition Monitoring for industrial equipment, as a Dagster code location."""
