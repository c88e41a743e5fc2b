"""IFC2X3 georeferencing by property sets: `ePSet_MapConversion` and `ePSet_ProjectedCRS`.

Guides and tools differ on where these sets live: on the `IfcProject` (the buildingSMART guide) or on the
`IfcSite` (some IfcOpenShell-based scripts and exporters). Both places are read: the project first, then each
site in file order. The CRS set is taken from the entity that holds the conversion, else from the other place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ifcopenshell
import ifcopenshell.util.element

MAP_UNITS = {"METRE": 1.0, "METER": 1.0, "MILLIMETRE": 0.001, "MILLIMETER": 0.001, "FOOT": 0.3048,
             "US SURVEY FOOT": 1200 / 3937}


@dataclass(frozen=True)
class EPsetGeoref:
    """The two property sets as read, and which entities they came from."""

    conversion: dict[str, Any]
    crs: dict[str, Any]
    conversion_on: str  # "IfcProject" or "IfcSite 'name'"
    crs_on: str | None

    def map_unit(self, default: float) -> float:
        """Metres per map unit from `MapUnit` (a name such as METRE), else `default`."""
        name = str(self.crs.get("MapUnit") or "").upper().replace("_", " ")
        return MAP_UNITS.get(name, default) if name else default


def _label(entity: ifcopenshell.entity_instance) -> str:
    name = getattr(entity, "Name", None)
    return f"{entity.is_a()} {name!r}" if name else entity.is_a()


def find_epsets(model: ifcopenshell.file) -> EPsetGeoref | None:
    """The first usable `ePSet_MapConversion` (with Eastings and Northings) and its CRS set, or None."""
    holders = [*model.by_type("IfcProject"), *model.by_type("IfcSite")]
    conversions, crs_sets = [], []
    for entity in holders:
        conversion = ifcopenshell.util.element.get_pset(entity, "ePSet_MapConversion")
        if conversion and conversion.get("Eastings") is not None and conversion.get("Northings") is not None:
            conversions.append((entity, conversion))
        crs = ifcopenshell.util.element.get_pset(entity, "ePSet_ProjectedCRS")
        if crs:
            crs_sets.append((entity, crs))
    if not conversions:
        return None
    holder, conversion = conversions[0]
    same = [crs for entity, crs in crs_sets if entity == holder]
    if same:
        return EPsetGeoref(conversion, same[0], _label(holder), _label(holder))
    if crs_sets:
        return EPsetGeoref(conversion, crs_sets[0][1], _label(holder), _label(crs_sets[0][0]))
    return EPsetGeoref(conversion, {}, _label(holder), None)
