"""OGC 3D Tiles 1.1 writer: pure and deterministic, with no knowledge of ingest or the server."""
