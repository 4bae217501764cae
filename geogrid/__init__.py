"""GeoGrid: a map-driven platform for urban grid management."""
