"""The nightly job: ingest -> interactions -> train -> evaluate -> recommend -> publish."""
