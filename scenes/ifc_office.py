"""A generated office model rich in what real exports carry: openings, doors, windows, spaces, property sets,
quantities, material layer sets and type objects — for profiling and benchmarking IFC ingest.

Per storey (36 × 18 m): a slab, twelve offices and a corridor (spaces with Pset/Qto), 36 walls with material
layer sets, a door per office and two windows per façade bay, each in an `IfcOpeningElement` that voids its wall
and is filled by it (doors and windows map their type's representation), and desks and chairs. Every element
has its own property sets (a common set and three exporter-style sets of 6–10 values) and quantities, as a Revit
export does. 218 products per storey; `storeys=5` gives 1,097 products with the spatial structure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ifcopenshell
import ifcopenshell.guid
import ifcopenshell.util.unit
import numpy as np

from scenes.ifc_authoring import IfcAuthor

COLOURS = {"concrete": (0.72, 0.72, 0.70), "plaster": (0.95, 0.93, 0.88), "wood": (0.55, 0.38, 0.22),
           "glass": (0.55, 0.72, 0.85), "floor": (0.80, 0.78, 0.74), "steel": (0.45, 0.5, 0.55)}
BAY, DEPTH, CORRIDOR, WALL, HEIGHT = 6.0, 8.0, 2.0, 0.25, 3.5
BAYS = 6
PRODUCTS_PER_STOREY = 218


class _Office:
    """The authoring state: the file, shared types and materials, and helpers that are cheap per element."""

    def __init__(self, lon: float | None, lat: float | None) -> None:
        self.author = IfcAuthor("Generated office", lon or 0.0, lat or 0.0, COLOURS, elevation=34.0)
        if lon is None or lat is None:  # not georeferenced: ingest needs --origin
            self.author.site.RefLatitude = self.author.site.RefLongitude = None
        self.file, self.api = self.author.file, self.author.api
        self.unit = float(ifcopenshell.util.unit.calculate_unit_scale(self.file))  # metres per project unit
        self.serial = 0
        self.layer_sets = {"wall": self._layer_set("Wall 250", [("Gypsum", 12.5), ("Concrete", 200.0),
                                                                ("Insulation", 25.0), ("Gypsum", 12.5)]),
                           "slab": self._layer_set("Slab 300", [("Screed", 50.0), ("Concrete", 250.0)])}
        self.materials = {name: self.api.run("material.add_material", self.file, name=name)
                          for name in ("Oak", "Steel", "Fabric")}
        self.door_type = self._typed("IfcDoorType", "Office door 900", "wood", door=True)
        self.window_type = self._typed("IfcWindowType", "Window 1600", "glass", door=False)

    def _layer_set(self, name: str, layers: list[tuple[str, float]]) -> Any:
        layer_set = self.api.run("material.add_material_set", self.file, name=name, set_type="IfcMaterialLayerSet")
        known: dict[str, Any] = {}
        for material, thickness in layers:
            if material not in known:
                known[material] = self.api.run("material.add_material", self.file, name=material)
            layer = self.api.run("material.add_layer", self.file, layer_set=layer_set, material=known[material])
            layer.LayerThickness = thickness / 1000 / self.unit
        return layer_set

    def _typed(self, ifc_class: str, name: str, style: str, *, door: bool) -> Any:
        """A door or window type whose detailed representation its occurrences map."""
        api, file = self.api, self.file
        element_type = api.run("root.create_entity", file, ifc_class=ifc_class, name=name)
        metres = 1 / self.unit
        if door:
            representation = api.run("geometry.add_door_representation", file, context=self.author.body,
                                     overall_height=2.1 * metres, overall_width=0.9 * metres)
        else:
            representation = api.run("geometry.add_window_representation", file, context=self.author.body,
                                     overall_height=1.5 * metres, overall_width=1.6 * metres)
        api.run("geometry.assign_representation", file, product=element_type, representation=representation)
        api.run("style.assign_representation_styles", file, shape_representation=representation,
                styles=[self.author.styles[style]])
        self.psets(element_type, "type", is_type=True)
        return element_type

    def psets(self, target: Any, kind: str, *, is_type: bool = False) -> None:
        """Exporter-style property sets and quantities of one element, each its own (as exports write them)."""
        self.serial += 1
        n = self.serial
        sets: dict[str, dict[str, Any]] = {
            f"Pset_{kind.capitalize()}Common": {"Reference": f"{kind}-{n % 17}", "IsExternal": n % 3 == 0,
                                                "FireRating": f"EI{30 * (n % 3)}", "LoadBearing": n % 2 == 0},
            "Identity Data": {"Mark": f"M{n}", "Comments": f"generated {kind}", "Workset": f"WS-{n % 5}",
                              "Edited by": "generator", "Design Option": "Main Model", "Phase Created": "New",
                              "Type Mark": f"T{n % 11}", "Keynote": f"0{n % 9}.{n % 7}"},
            "Constraints": {"Base Offset": 0.0, "Top Offset": float(n % 4) / 10, "Room Bounding": True,
                            "Related to Mass": False, "Level": f"L{n % 6}", "Host Id": n * 7},
            "Other": {"Category": kind, "Family": f"{kind} family", "Family and Type": f"{kind}: {n % 13}",
                      "Cost": float(n % 97) * 12.5, "Assembly Code": f"B20{n % 10}", "Image": "",
                      "URL": f"https://example.org/{kind}/{n}", "Model": f"X-{n % 23}", "Manufacturer": "Acme",
                      "Count": n % 29},
        }
        for name, values in sets.items():
            properties = [self.file.createIfcPropertySingleValue(key, None, self._value(value), None)
                          for key, value in values.items()]
            pset = self.file.createIfcPropertySet(ifcopenshell.guid.new(), None, name, None, properties)
            if is_type:
                target.HasPropertySets = (*(target.HasPropertySets or ()), pset)
            else:
                self.file.createIfcRelDefinesByProperties(ifcopenshell.guid.new(), None, None, None, [target], pset)
        if not is_type:
            quantities = [self.file.createIfcQuantityLength("Length", None, None, 1.0 + n % 5, None),
                          self.file.createIfcQuantityArea("NetSideArea", None, None, 3.0 + n % 7, None),
                          self.file.createIfcQuantityVolume("NetVolume", None, None, 0.5 + n % 3, None)]
            qto = self.file.createIfcElementQuantity(ifcopenshell.guid.new(), None, f"Qto_{kind.capitalize()}"
                                                     "BaseQuantities", None, None, quantities)
            self.file.createIfcRelDefinesByProperties(ifcopenshell.guid.new(), None, None, None, [target], qto)

    def _value(self, value: Any) -> Any:
        if isinstance(value, bool):
            return self.file.create_entity("IfcBoolean", value)
        if isinstance(value, int):
            return self.file.create_entity("IfcInteger", value)
        if isinstance(value, float):
            return self.file.create_entity("IfcReal", value)
        return self.file.create_entity("IfcLabel", value)

    def element(self, ifc_class: str, storey: Any, size: tuple[float, float, float], at: tuple[float, float, float],
                style: str, kind: str, *, along_y: bool = False, material: str | None = None, **attributes: Any) -> Any:
        product = self.author.box(ifc_class, storey, size, at, style, f"{kind} {self.serial + 1}", along_y=along_y,
                                  **attributes)
        self.psets(product, kind)
        if material in self.layer_sets:
            self.api.run("material.assign_material", self.file, products=[product], type="IfcMaterialLayerSetUsage",
                         material=self.layer_sets[material])
        elif material:
            self.api.run("material.assign_material", self.file, products=[product], material=self.materials[material])
        return product

    def filled(self, wall: Any, storey: Any, element_type: Any, ifc_class: str, kind: str, width: float,
               height: float, at: tuple[float, float, float]) -> None:
        """An opening through `wall` at `at` (x along the wall), filled by a door or window of `element_type`."""
        api, file = self.api, self.file
        opening = self.author.box("IfcOpeningElement", storey, (width, WALL + 0.2, height),
                                  (at[0], at[1] - 0.1, at[2]), "plaster", "Opening")
        api.run("feature.add_feature", file, feature=opening, element=wall)
        product = api.run("root.create_entity", file, ifc_class=ifc_class, name=f"{kind} {self.serial + 1}")
        product.OverallWidth, product.OverallHeight = width / self.unit, height / self.unit
        api.run("type.assign_type", file, related_objects=[product], relating_type=element_type)
        matrix = np.eye(4)
        matrix[:3, 3] = at
        api.run("geometry.edit_object_placement", file, product=product, matrix=matrix)
        api.run("spatial.assign_container", file, relating_structure=storey, products=[product])
        api.run("feature.add_filling", file, opening=opening, element=product)
        self.psets(product, kind)
        self.author.products += 1


def generate_office(path: Path, storeys: int = 5, *, lon: float | None = 13.40, lat: float | None = 52.52) -> int:
    """Write the office as IFC4 to `path` (no georeferencing when lon/lat are None); returns the product count."""
    office = _Office(lon, lat)
    author = office.author
    building = author.building("Office")
    length, width = BAYS * BAY, 2 * DEPTH + CORRIDOR
    for level in range(storeys):
        z = level * HEIGHT
        storey = author.storey(building, f"Level {level}", z)
        office.element("IfcSlab", storey, (length, width, 0.3), (0, 0, z - 0.3), "concrete", "slab", material="slab",
                       PredefinedType="FLOOR")
        office.element("IfcSpace", storey, (length - 2 * WALL, CORRIDOR - WALL, HEIGHT - 0.3),
                       (WALL, DEPTH + WALL / 2, z), "floor", "space", LongName="Corridor")
        for row, y0 in enumerate((0.0, DEPTH + CORRIDOR)):
            facade_y = 0.0 if row == 0 else width - WALL
            corridor_y = DEPTH - WALL / 2 if row == 0 else DEPTH + CORRIDOR - WALL / 2
            for bay in range(BAYS):
                x0 = bay * BAY
                facade = office.element("IfcWall", storey, (BAY, WALL, HEIGHT - 0.3), (x0, facade_y, z), "plaster",
                                        "wall", material="wall")
                for k in range(2):
                    office.filled(facade, storey, office.window_type, "IfcWindow", "window", 1.6, 1.5,
                                  (x0 + 0.9 + k * 2.8, facade_y, z + 0.9))
                inner = office.element("IfcWall", storey, (BAY, WALL, HEIGHT - 0.3), (x0, corridor_y, z), "plaster",
                                       "wall", material="wall")
                office.filled(inner, storey, office.door_type, "IfcDoor", "door", 0.9, 2.1, (x0 + 2.5, corridor_y, z))
                if bay:
                    office.element("IfcWall", storey, (DEPTH - WALL, WALL, HEIGHT - 0.3), (x0 + WALL / 2, y0 + WALL, z),
                                   "plaster", "wall", along_y=True, material="wall")
                office.element("IfcSpace", storey, (BAY - WALL, DEPTH - 1.5 * WALL, HEIGHT - 0.3),
                               (x0 + WALL / 2, y0 + WALL / 2 + (0.0 if row == 0 else WALL / 2), z), "floor", "space",
                               LongName="Office")
                for desk in range(4):
                    dx, dy = x0 + 0.8 + (desk % 2) * 2.6, y0 + 2.0 + (desk // 2) * 3.0
                    office.element("IfcFurniture", storey, (1.6, 0.8, 0.75), (dx, dy, z), "wood", "furniture",
                                   material="Oak")
                    office.element("IfcFurniture", storey, (0.5, 0.5, 0.9), (dx + 0.5, dy + 0.9, z), "steel",
                                   "furniture", material="Fabric")
        for x0 in (WALL, length):  # gable walls
            office.element("IfcWall", storey, (width, WALL, HEIGHT - 0.3), (x0, 0, z), "plaster", "wall",
                           along_y=True, material="wall")
    return author.write(path)
