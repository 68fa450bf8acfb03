"""Scoring output tables in SQL, and the IO manager that replaces one partition's rows in one transaction."""
