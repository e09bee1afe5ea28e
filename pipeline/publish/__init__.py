"""Publish: a version's rows into DynamoDB under the item contract, then the pointer flipped.

writer (the publish stage: write, verify, flip) · registry (version entries and the pointer) ·
versions (list, roll back, show a user's answer) · dynamo (table check, batched writes and reads)
"""
