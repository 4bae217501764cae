"""Mapbox Vector Tiles of the map layers, built by PostGIS, cached per layer, parameters, data and scope."""
