"""Partitions: one per equipment (kept in sync with the Equipment table by a sensor), and equipment x day."""

import os

import dagster as dg

FIRST_DAY_ENV = "ACM_FIRST_DAY"

equipment_partitions = dg.DynamicPartitionsDefinition(name="equipment")
day_partitions = dg.DailyPartitionsDefinition(start_date=os.environ.get(FIRST_DAY_ENV, "2024-01-01"))
equipment_day_partitions = dg.MultiPartitionsDefinition({"equipment": equipment_partitions, "day": day_partitions})
