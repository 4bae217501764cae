"""Map layers: choropleths of grid units and point layers, and their exports."""
