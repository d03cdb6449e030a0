"""The JSON API under /api/v1: the original design's endpoints on the same services."""
