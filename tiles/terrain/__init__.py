"""Cesium quantized-mesh terrain: the geographic tiling scheme, meshes per tile, their encoding and `layer.json`."""
