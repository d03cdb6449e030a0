"""Reporting: statistics and rollups, the program overview, exports, integrity checks."""
