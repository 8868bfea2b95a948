"""Benchmark decontamination: normalized word n-grams of shipped test sets, matched inside Spark."""
