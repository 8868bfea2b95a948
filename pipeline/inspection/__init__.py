"""Inspection of a run directory with DuckDB, no Spark: views per stage, queries, document journeys."""
