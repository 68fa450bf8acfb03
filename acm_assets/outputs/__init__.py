"""Output tables in SQL: scoring's (each day partition replaced in one transaction, so reruns never duplicate
rows), the triage decisions and the time to a limit."""
