"""BIM ingest: IFC models become georeferenced twin objects and meshes (see docs/architecture.md)."""
