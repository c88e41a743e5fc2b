"""Authoring simple IFC buildings with `ifcopenshell.api`: a georeferenced site, storeys, and box products.

Used by the demo building and by benchmarks that need large generated models.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

Rgb = tuple[float, float, float]


def dms(value: float) -> tuple[int, int, int, int]:
    """Degrees as IFC's compound plane angle (degrees, minutes, seconds, millionths), sign on every part."""
    sign = -1 if value < 0 else 1
    value = abs(value)
    degrees = int(value)
    minutes_f = (value - degrees) * 60
    minutes = int(minutes_f)
    seconds_f = (minutes_f - minutes) * 60
    seconds = int(seconds_f)
    return sign * degrees, sign * minutes, sign * seconds, sign * round((seconds_f - seconds) * 1e6)


def _owner_history_for(file: Any) -> None:
    """IFC2X3 requires an owner history on every rooted entity: a user and application for the api to use."""
    import ifcopenshell.api.owner.settings as owner

    organisation = file.createIfcOrganization(Name="CityTwin")
    file.createIfcPersonAndOrganization(file.createIfcPerson(FamilyName="CityTwin"), organisation)
    file.createIfcApplication(organisation, "1", "CityTwin scenes", "CityTwin")
    owner.get_user = lambda ifc: (ifc.by_type("IfcPersonAndOrganization") or [None])[0]
    owner.get_application = lambda ifc: (ifc.by_type("IfcApplication") or [None])[0]


LENGTH_ATTRIBUTES = frozenset({"OverallWidth", "OverallHeight"})

class IfcAuthor:
    """One IFC file (IFC4 unless `schema` says otherwise) with a project, a site at lon/lat (x axis
    `grid_angle_deg` from east) and named colours."""

    def __init__(self, project: str, lon: float, lat: float, colours: dict[str, Rgb], *, elevation: float = 0.0,
                 grid_angle_deg: float = 0.0, schema: str = "IFC4") -> None:
        import ifcopenshell.api as api

        self.api = api
        self.file = api.run("project.create_file", version=schema)
        if schema == "IFC2X3":
            _owner_history_for(self.file)
        self.project = root = api.run("root.create_entity", self.file, ifc_class="IfcProject", name=project)
        api.run("unit.assign_unit", self.file)
        import ifcopenshell.util.unit

        self.unit_scale = float(ifcopenshell.util.unit.calculate_unit_scale(self.file))  # metres per file unit
        model = api.run("context.add_context", self.file, context_type="Model")
        if grid_angle_deg:
            theta = math.radians(grid_angle_deg)
            model.TrueNorth = self.file.createIfcDirection((math.sin(theta), math.cos(theta)))
        self.body = api.run("context.add_context", self.file, context_type="Model", context_identifier="Body",
                            target_view="MODEL_VIEW", parent=model)
        self.site = api.run("root.create_entity", self.file, ifc_class="IfcSite", name="Site")
        self.site.RefLatitude, self.site.RefLongitude, self.site.RefElevation = dms(lat), dms(lon), elevation
        api.run("aggregate.assign_object", self.file, relating_object=root, products=[self.site])
        self.styles = {}
        for key, rgb in colours.items():
            style = api.run("style.add_style", self.file, name=key)
            api.run("style.add_surface_style", self.file, style=style, ifc_class="IfcSurfaceStyleShading",
                    attributes={"SurfaceColour": {"Name": None, "Red": rgb[0], "Green": rgb[1], "Blue": rgb[2]}})
            self.styles[key] = style
        self.products = 1  # the site

    def building(self, name: str) -> Any:
        building = self.api.run("root.create_entity", self.file, ifc_class="IfcBuilding", name=name)
        self.api.run("aggregate.assign_object", self.file, relating_object=self.site, products=[building])
        self.products += 1
        return building

    def storey(self, building: Any, name: str, elevation: float) -> Any:
        """A storey placed at its elevation (readers take storey heights from placements or `Elevation`)."""
        storey = self.api.run("root.create_entity", self.file, ifc_class="IfcBuildingStorey", name=name)
        storey.Elevation = elevation / self.unit_scale  # in the file's length unit, like every length attribute
        self.api.run("aggregate.assign_object", self.file, relating_object=building, products=[storey])
        matrix = np.eye(4)
        matrix[2, 3] = elevation
        self.api.run("geometry.edit_object_placement", self.file, product=storey, matrix=matrix)
        self.products += 1
        return storey

    def box(self, ifc_class: str, container: Any, size: tuple[float, float, float], at: tuple[float, float, float],
            style: str, name: str | None = None, *, along_y: bool = False, **attributes: Any) -> Any:
        """A box product: `size` = (length, thickness, height) from `at`, length along x (or y with `along_y`).

        Spaces are aggregated into the container, openings left to the element they void; everything else is
        contained in it.
        """
        api = self.api
        product = api.run("root.create_entity", self.file, ifc_class=ifc_class, name=name)
        for key, value in attributes.items():  # lengths given in metres, stored in the file's length unit
            setattr(product, key, value / self.unit_scale if key in LENGTH_ATTRIBUTES else value)
        representation = api.run("geometry.add_wall_representation", self.file, context=self.body, length=size[0],
                                 height=size[2], thickness=size[1])
        api.run("geometry.assign_representation", self.file, product=product, representation=representation)
        api.run("style.assign_representation_styles", self.file, shape_representation=representation,
                styles=[self.styles[style]])
        matrix = np.eye(4)
        if along_y:  # a quarter turn: the length runs along +y, the thickness along -x
            matrix[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
        matrix[:3, 3] = at
        api.run("geometry.edit_object_placement", self.file, product=product, matrix=matrix)
        if ifc_class == "IfcSpace":
            api.run("aggregate.assign_object", self.file, relating_object=container, products=[product])
        elif ifc_class != "IfcOpeningElement":  # an opening belongs to the element it voids, not to a container
            api.run("spatial.assign_container", self.file, relating_structure=container, products=[product])
        self.products += 1
        return product

    def pset(self, product: Any, name: str, properties: dict[str, Any]) -> Any:
        """A property set on `product` (value types follow the Python values: float → IfcReal, str → IfcLabel)."""
        pset = self.api.run("pset.add_pset", self.file, product=product, name=name)
        self.api.run("pset.edit_pset", self.file, pset=pset, properties=properties)
        return pset

    def write(self, path: Path) -> int:
        """Write the file; returns how many products it holds."""
        self.file.write(str(path))
        return self.products
