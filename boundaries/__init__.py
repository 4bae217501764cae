"""Grid units, their hierarchy and generations; import, export and point lookup."""
