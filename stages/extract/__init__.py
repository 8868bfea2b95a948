"""extract: HTML -> main text (stage.py), the extractors (extractors.py), the time-limited child (sandbox.py)."""
