"""Precompute: every answer the API serves, as index arrays into a version's ids.

recommend (top-k per user, similar items, popular lists) · scoring (the exact tiled top-k kernel)
· shard (user ranges, so scoring and publishing spread over workers)
"""
