"""Input: readers for every input format (jsonl, Parquet, datasets, text folders) and the quickstart corpus."""
