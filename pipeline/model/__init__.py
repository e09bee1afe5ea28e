"""Model: train ALS, tune it, measure it against baselines, gate it, keep it as a versioned artifact.

train (the CPU/GPU factory) · tune (the search) · evaluate (lists vs the holdout) · metrics ·
gate (publish or refuse) · artifact (the versioned directory and its typed meta) · report
"""
