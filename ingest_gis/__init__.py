"""GIS ingest: footprints, city models and reality capture become twin objects and meshes."""
