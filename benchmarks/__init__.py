"""`make bench`: speed measured side by side with a reference in the same run, printed as a table."""
