"""Feedback: what was served (the impression log) joined with what users did next, measured per
version, experiment arm and source, and the statistics that compare two live versions."""
