"""Terrain: ingested DEMs as quantized-mesh tiles and as a height grid in PostGIS, and heights sampled from it."""
