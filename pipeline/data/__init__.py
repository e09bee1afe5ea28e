"""Data: event files into the DuckDB warehouse, and the interactions training reads.

sources (which files) → ingest (append-only, quarantine) → warehouse (tables, stable id maps)
→ interactions (SQL: user x item weights) → splits (holdout, validation) · quality (what a run saw)
"""
