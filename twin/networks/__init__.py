"""Underground networks: pipes and nodes as a graph in PostGIS, tubes in tiles, and valve isolation."""
