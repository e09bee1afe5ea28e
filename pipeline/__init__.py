"""recs: the nightly batch job (Prefect flow over data, model, precompute, publish and ops)."""
