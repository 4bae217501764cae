"""Fault tests: the database restarting mid-request, imports killed half-way, people acting at the same time."""
