"""Detector library: pure numpy / pandas / scikit-learn. No Dagster here."""
