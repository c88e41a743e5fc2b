"""Querying twin objects: OGC API – Features (Core, CRS, CQL2 filters) and location queries, compiled to SQL."""
