"""Operations: what a run does and how it survives a bad day.

plan (re-runs, empty days, the served version) · concurrency (one run at a time) ·
retries (timeouts, transient errors, the failing stage named) · children (waiting for a child
server to answer)
"""
