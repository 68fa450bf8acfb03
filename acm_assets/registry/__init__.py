"""ModelRegistry: versioned, atomic model persistence in SQL, and the Dagster IO manager on it."""
