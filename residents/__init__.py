"""The basic information database: buildings, households and residents on the map."""
