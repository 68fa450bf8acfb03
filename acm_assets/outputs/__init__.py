"""Scoring output tables in SQL, each day partition replaced in one transaction (reruns never duplicate rows)."""
