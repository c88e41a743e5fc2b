"""A building's tileset: three layers of `tiles.layers` (all `refine: ADD`).

    root (no content; geometric error ≈ the building's diagonal)
    ├── structure  (slabs, walls, roofs, columns, beams, stairs, site …; shown as soon as the building is)
    ├── detail     (doors, windows, members, railings, furniture, fittings, MEP …; error diagonal / 8)
    └── spaces     (IfcSpace volumes, for picking and styling; error diagonal / 8)

Every element is one feature whose surface colours are vertex colours, so a tile is one draw call whatever the
materials, and a storey is a handful of draw calls.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest_bim.spool import FeatureSpool
from tiles.layers import Layer, build_layered_tileset
from tiles.model import BuiltTileset
from tiles.tileset import TilingOptions

LAYERS = ("structure", "detail", "spaces")
LAYER_ERROR_FRACTION = {"structure": 1.0, "detail": 0.125, "spaces": 0.125}
STRUCTURE = frozenset({
    "IfcWall", "IfcWallStandardCase", "IfcWallElementedCase", "IfcSlab", "IfcSlabStandardCase",
    "IfcSlabElementedCase", "IfcRoof", "IfcColumn", "IfcColumnStandardCase", "IfcBeam", "IfcBeamStandardCase",
    "IfcCurtainWall", "IfcStair", "IfcStairFlight", "IfcRamp", "IfcRampFlight", "IfcFooting", "IfcPile",
    "IfcSite", "IfcCovering", "IfcPlate", "IfcPlateStandardCase", "IfcChimney", "IfcBearing", "IfcCourse",
    "IfcEarthworksFill", "IfcPavement", "IfcKerb",
})


# Building meshes (boxes, extrusions, few shared vertices) come out as small at level 7 as at 10 and encode about
# a quarter faster.
DRACO_LEVEL = 7


def layer_of(ifc_class: str) -> str:
    if ifc_class == "IfcSpace":
        return "spaces"
    return "structure" if ifc_class in STRUCTURE else "detail"


def build_building_tileset(spool: FeatureSpool, *, max_features_per_tile: int = 400,
                           on_progress: Callable[[int, int], None] | None = None) -> BuiltTileset:
    """The building tileset: structure, detail and spaces layers, each element one feature coloured per vertex,
    in the spool's frame."""
    layers = [Layer(name, spool.layer_features(name), LAYER_ERROR_FRACTION[name]) for name in LAYERS
              if name in spool.layers]
    if not layers:
        raise ValueError("a building tileset needs at least one drawn element")
    options = TilingOptions(max_features_per_tile=max_features_per_tile, class_name="element",
                            draco_level=DRACO_LEVEL)
    return build_layered_tileset(layers, options, on_progress, frame=spool.frame)
