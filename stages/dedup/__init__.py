"""Deduplication stages: exact (text hash), lines (repeated lines across documents), MinHash near-duplicates,
with the MinHash maths and the connected-components job beside them."""
