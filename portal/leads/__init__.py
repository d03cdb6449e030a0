"""Leads: registration and claims, the pipeline and its timeline, CSV imports."""
