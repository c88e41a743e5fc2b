"""What an IFC product is: class, types, spatial parent and storey, property/quantity sets and materials.

Relationships are read once for the whole model (one pass over each relationship class) and property sets are
converted once each, however many products share them, so the cost per product stays flat on large models.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import ifcopenshell
import ifcopenshell.util.placement
import ifcopenshell.util.unit
import numpy as np
from numpy.typing import NDArray

from ingest_bim.properties import definition_values

SPATIAL = ("IfcSite", "IfcBuilding", "IfcBuildingStorey", "IfcSpace", "IfcFacility", "IfcFacilityPart")
# classes (and their subclasses) whose footprint is their plan rather than their hull; stairs keep their vertices
PLAN_CLASSES = ("IfcSpace", "IfcSlab", "IfcWall", "IfcDoor", "IfcStair", "IfcStairFlight", "IfcRamp",
                "IfcRampFlight", "IfcCovering")
STAIR_CLASSES = ("IfcStair", "IfcStairFlight", "IfcRamp")
READ = ("GlobalId", "Name", "Description", "ObjectType", "Tag", "LongName", "PredefinedType", "Elevation",
        "OverallWidth", "OverallHeight")


def _plain(value: Any) -> Any:
    """JSON-friendly values: entity references become their names or ids, NaN and infinities disappear."""
    if isinstance(value, ifcopenshell.entity_instance):
        if value.is_a("IfcPropertySetDefinition") or value.is_a("IfcPhysicalQuantity"):
            return None
        return getattr(value, "Name", None) or f"#{value.id()}"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_Definition = tuple[str, bool, dict[str, Any]]  # name, is a quantity set, values


def _predefined_type(attrs: dict[str, Any], type_attrs: dict[str, Any] | None) -> str | None:
    """The predefined type, the type object's first; USERDEFINED gives way to the user's own type name."""
    if type_attrs is not None:
        value = type_attrs.get("PredefinedType")
        if value == "USERDEFINED" or not value:
            value = type_attrs.get("ElementType", ...)
            if value is ...:
                value = type_attrs.get("ProcessType")
        if value and value != "NOTDEFINED":
            return str(value)
    value = attrs.get("PredefinedType")
    if value == "USERDEFINED" or not value:
        value = attrs.get("ObjectType")
    return value


@dataclass
class ProductInfo:
    """Everything a twin object says about one product, apart from its geometry."""

    guid: str
    ifc_class: str
    name: str | None
    parent: str | None  # GlobalId of the spatial parent (or host, for openings)
    storey: str | None  # GlobalId of the storey the product is on
    attributes: dict[str, Any] = field(default_factory=dict)
    plan_class: bool = False  # one of PLAN_CLASSES
    stair_class: bool = False  # one of STAIR_CLASSES


class Semantics:
    """Relationship maps of one model and a `describe(product)` that uses them."""

    def __init__(self, model: ifcopenshell.file) -> None:
        self.model = model
        self.unit = float(ifcopenshell.util.unit.calculate_unit_scale(model))
        self.parent: dict[int, ifcopenshell.entity_instance] = {}
        self.definitions: dict[int, list[ifcopenshell.entity_instance]] = defaultdict(list)
        self.materials: dict[int, list[str]] = {}
        self.types: dict[int, ifcopenshell.entity_instance] = {}
        self._pset_cache: dict[int, _Definition] = {}
        self._storey: dict[int, ifcopenshell.entity_instance | None] = {}
        self._classes: dict[str, tuple[bool, bool, bool]] = {}
        self._positions: dict[str, list[tuple[str, int]]] = {}
        self._type_cache: dict[int, tuple[dict[str, Any], list[_Definition]]] = {}
        self._nodes: dict[int, tuple[str | None, str | None, float | None]] = {}
        self._placements: dict[int, NDArray[np.float64]] = {}
        self._read_relationships()

    def _read_relationships(self) -> None:
        model = self.model
        for rel in model.by_type("IfcRelAggregates"):
            for part in rel.RelatedObjects:
                self.parent.setdefault(part.id(), rel.RelatingObject)
        for rel in model.by_type("IfcRelContainedInSpatialStructure"):
            for element in rel.RelatedElements:
                self.parent[element.id()] = rel.RelatingStructure  # containment wins over aggregation
        for rel in model.by_type("IfcRelVoidsElement"):
            self.parent.setdefault(rel.RelatedOpeningElement.id(), rel.RelatingBuildingElement)
        for rel in model.by_type("IfcRelDefinesByProperties"):  # as many as property sets: read by position
            definition = rel.get_argument(5)  # RelatingPropertyDefinition
            defs = list(definition) if isinstance(definition, tuple) else [definition]
            for obj in rel.get_argument(4):  # RelatedObjects
                self.definitions[obj.id()].extend(defs)
        for rel in model.by_type("IfcRelDefinesByType"):
            for obj in rel.RelatedObjects:
                self.types[obj.id()] = rel.RelatingType
        for rel in model.by_type("IfcRelAssociatesMaterial"):
            names = _material_names(rel.RelatingMaterial)
            for obj in rel.RelatedObjects:
                self.materials[obj.id()] = names

    def _definition(self, definition: ifcopenshell.entity_instance) -> _Definition:
        """(name, is a quantity set, values) of a property definition, converted once however often it is used."""
        key = definition.id()
        if key not in self._pset_cache:
            try:
                values = definition_values(definition)
            except Exception:  # a malformed property set is skipped, not fatal
                values = {}
            name = getattr(definition, "Name", None) or f"#{key}"
            self._pset_cache[key] = (name, definition.is_a("IfcElementQuantity"), _plain(values))
        return self._pset_cache[key]

    def storey_of(self, product: ifcopenshell.entity_instance) -> ifcopenshell.entity_instance | None:
        key = product.id()
        if key not in self._storey:
            node, seen = self.parent.get(key), 0
            while node is not None and not node.is_a("IfcBuildingStorey") and seen < 64:
                node, seen = self.parent.get(node.id()), seen + 1
            self._storey[key] = node if node is not None and node.is_a("IfcBuildingStorey") else None
        return self._storey[key]

    def _class(self, product: ifcopenshell.entity_instance) -> tuple[bool, bool, bool]:
        """(is a storey, is a plan class, is a stair class) of the product's class, looked up once per class."""
        name = product.is_a()
        if name not in self._classes:
            self._classes[name] = (name == "IfcBuildingStorey", any(product.is_a(c) for c in PLAN_CLASSES),
                                   any(product.is_a(c) for c in STAIR_CLASSES))
        return self._classes[name]

    def _attributes(self, product: ifcopenshell.entity_instance, ifc_class: str) -> dict[str, Any]:
        """The product's plain attributes that `describe` reads, by position (positions looked up once per class)."""
        if ifc_class not in self._positions:
            names = product.get_attribute_names()
            self._positions[ifc_class] = [(n, names.index(n)) for n in READ if n in names]
        return {name: product.get_argument(i) for name, i in self._positions[ifc_class]}

    def _type(self, ifc_type: ifcopenshell.entity_instance) -> tuple[dict[str, Any], list[_Definition]]:
        """A type object's attributes and property definitions, read once per type."""
        key = ifc_type.id()
        if key not in self._type_cache:
            self._type_cache[key] = (ifc_type.get_info(recursive=False),
                                     [self._definition(d) for d in ifc_type.HasPropertySets or ()])
        return self._type_cache[key]

    def _related(self, node: ifcopenshell.entity_instance) -> tuple[str | None, str | None, float | None]:
        """GlobalId (if a product) of a parent or storey, its name, and a storey's elevation, read once per node."""
        key = node.id()
        if key not in self._nodes:
            is_product = node.is_a("IfcProduct")
            self._nodes[key] = (node.GlobalId if is_product else None, getattr(node, "Name", None),
                                round(self.storey_elevation(node), 4) if node.is_a("IfcBuildingStorey") else None)
        return self._nodes[key]

    def describe(self, product: ifcopenshell.entity_instance) -> ProductInfo:
        key = product.id()
        ifc_class = product.is_a()
        attrs = self._attributes(product, ifc_class)
        is_storey, plan_class, stair_class = self._class(product)
        psets: dict[str, Any] = {}
        qtos: dict[str, Any] = {}
        ifc_type = self.types.get(key)
        type_attrs, definitions = self._type(ifc_type) if ifc_type is not None else ({}, [])
        definitions = definitions + [self._definition(d) for d in self.definitions.get(key, ())]
        for name, is_quantity, values in definitions:  # occurrence sets come last and win over the type's
            (qtos if is_quantity else psets).setdefault(name, {}).update(values)
        parent = self.parent.get(key)
        parent_guid = self._related(parent)[0] if parent is not None else None
        storey = product if is_storey else self.storey_of(product)
        storey_guid, storey_name, storey_elevation = self._related(storey) if storey is not None else (None,) * 3
        attributes: dict[str, Any] = {
            "GlobalId": attrs["GlobalId"],
            "class": ifc_class,
            "predefined_type": _predefined_type(attrs, type_attrs if ifc_type is not None else None),
            "object_type": attrs.get("ObjectType"),
            "tag": attrs.get("Tag"),
            "description": attrs.get("Description"),
            "long_name": attrs.get("LongName"),
            "type": type_attrs.get("Name"),
            "type_class": type_attrs.get("type"),
            "storey": storey_name,
            "storey_id": storey_guid,
            "materials": self.materials.get(key) or (self.materials.get(ifc_type.id()) if ifc_type else None),
            "psets": psets,
            "qtos": qtos,
        }
        if is_storey and attrs.get("Elevation") is not None:
            attributes["elevation"] = float(attrs["Elevation"]) * self.unit
        if storey_elevation is not None:
            attributes["storey_elevation"] = storey_elevation
        for dimension in ("OverallWidth", "OverallHeight"):
            value = attrs.get(dimension)
            if isinstance(value, float):
                attributes[dimension[7:].lower()] = value * self.unit
        attributes = {k: v for k, v in attributes.items() if v not in (None, {}, [], "")}
        return ProductInfo(attrs["GlobalId"], ifc_class, attrs.get("Name") or None, parent_guid, storey_guid,
                           attributes, plan_class, stair_class)

    def storey_elevation(self, storey: ifcopenshell.entity_instance) -> float:
        """A storey's elevation in metres: its Elevation attribute, else the height of its placement."""
        if storey.Elevation is not None:
            return float(storey.Elevation) * self.unit
        return self.placement_origin(storey)[2]

    def placement_origin(self, product: ifcopenshell.entity_instance) -> tuple[float, float, float]:
        """World position (model metres) of a product's placement origin; (0, 0, 0) without a placement."""
        placement = getattr(product, "ObjectPlacement", None)
        if placement is None:
            return 0.0, 0.0, 0.0
        try:
            matrix = self.placement_matrix(placement)
        except Exception:
            return 0.0, 0.0, 0.0
        x, y, z = (float(v) * self.unit for v in matrix[:3, 3])
        return x, y, z

    def placement_matrix(self, placement: ifcopenshell.entity_instance) -> NDArray[np.float64]:
        """`ifcopenshell.util.placement.get_local_placement` with each placement's matrix computed once (the
        same products in the same order, so the same numbers): openings, fillings and elements share the chains
        of their hosts and storeys."""
        key = placement.id()
        matrix = self._placements.get(key)
        if matrix is None:
            if not placement.is_a("IfcLocalPlacement"):
                matrix = ifcopenshell.util.placement.get_local_placement(placement)
            else:
                relative_to = placement.PlacementRelTo
                parent = np.eye(4) if relative_to is None else self.placement_matrix(relative_to)
                matrix = np.dot(parent, ifcopenshell.util.placement.get_axis2placement(placement.RelativePlacement))
            self._placements[key] = matrix
        return matrix


def _material_names(material: ifcopenshell.entity_instance | None) -> list[str]:
    if material is None:
        return []
    if material.is_a("IfcMaterial"):
        return [material.Name] if material.Name else []
    for attribute in ("ForLayerSet", "ForProfileSet"):
        if hasattr(material, attribute):
            return _material_names(getattr(material, attribute))
    names: list[str] = []
    for attribute in ("MaterialLayers", "MaterialProfiles", "MaterialConstituents", "Materials"):
        for item in getattr(material, attribute, None) or ():
            inner = item if item.is_a("IfcMaterial") else getattr(item, "Material", None)
            names.extend(_material_names(inner))
    return list(dict.fromkeys(names))
