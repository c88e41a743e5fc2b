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
import ifcopenshell.util.element
import ifcopenshell.util.placement
import ifcopenshell.util.unit

SPATIAL = ("IfcSite", "IfcBuilding", "IfcBuildingStorey", "IfcSpace", "IfcFacility", "IfcFacilityPart")


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


@dataclass
class ProductInfo:
    """Everything a twin object says about one product, apart from its geometry."""

    guid: str
    ifc_class: str
    name: str | None
    parent: str | None  # GlobalId of the spatial parent (or host, for openings)
    storey: str | None  # GlobalId of the storey the product is on
    attributes: dict[str, Any] = field(default_factory=dict)


class Semantics:
    """Relationship maps of one model and a `describe(product)` that uses them."""

    def __init__(self, model: ifcopenshell.file) -> None:
        self.model = model
        self.unit = float(ifcopenshell.util.unit.calculate_unit_scale(model))
        self.parent: dict[int, ifcopenshell.entity_instance] = {}
        self.definitions: dict[int, list[ifcopenshell.entity_instance]] = defaultdict(list)
        self.materials: dict[int, list[str]] = {}
        self.types: dict[int, ifcopenshell.entity_instance] = {}
        self._pset_cache: dict[int, dict[str, Any]] = {}
        self._storey: dict[int, ifcopenshell.entity_instance | None] = {}
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
        for rel in model.by_type("IfcRelDefinesByProperties"):
            definition = rel.RelatingPropertyDefinition
            defs = list(definition) if isinstance(definition, tuple) else [definition]
            for obj in rel.RelatedObjects:
                self.definitions[obj.id()].extend(defs)
        for rel in model.by_type("IfcRelDefinesByType"):
            for obj in rel.RelatedObjects:
                self.types[obj.id()] = rel.RelatingType
        for rel in model.by_type("IfcRelAssociatesMaterial"):
            names = _material_names(rel.RelatingMaterial)
            for obj in rel.RelatedObjects:
                self.materials[obj.id()] = names

    def _definition(self, definition: ifcopenshell.entity_instance) -> dict[str, Any]:
        key = definition.id()
        if key not in self._pset_cache:
            try:
                values = ifcopenshell.util.element.get_property_definition(definition) or {}
            except Exception:  # a malformed property set is skipped, not fatal
                values = {}
            self._pset_cache[key] = _plain(values)
        return self._pset_cache[key]

    def storey_of(self, product: ifcopenshell.entity_instance) -> ifcopenshell.entity_instance | None:
        key = product.id()
        if key not in self._storey:
            node, seen = self.parent.get(key), 0
            while node is not None and not node.is_a("IfcBuildingStorey") and seen < 64:
                node, seen = self.parent.get(node.id()), seen + 1
            self._storey[key] = node if node is not None and node.is_a("IfcBuildingStorey") else None
        return self._storey[key]

    def describe(self, product: ifcopenshell.entity_instance) -> ProductInfo:
        key = product.id()
        psets: dict[str, Any] = {}
        qtos: dict[str, Any] = {}
        ifc_type = self.types.get(key)
        definitions = list(getattr(ifc_type, "HasPropertySets", None) or ()) + self.definitions.get(key, [])
        for definition in definitions:  # occurrence sets come last and win over the type's
            name = getattr(definition, "Name", None) or f"#{definition.id()}"
            target = qtos if definition.is_a("IfcElementQuantity") else psets
            target.setdefault(name, {}).update(self._definition(definition))
        parent = self.parent.get(key)
        storey = product if product.is_a("IfcBuildingStorey") else self.storey_of(product)
        attributes: dict[str, Any] = {
            "GlobalId": product.GlobalId,
            "class": product.is_a(),
            "predefined_type": ifcopenshell.util.element.get_predefined_type(product),
            "object_type": getattr(product, "ObjectType", None),
            "tag": getattr(product, "Tag", None),
            "description": getattr(product, "Description", None),
            "long_name": getattr(product, "LongName", None),
            "type": getattr(ifc_type, "Name", None) if ifc_type is not None else None,
            "type_class": ifc_type.is_a() if ifc_type is not None else None,
            "storey": getattr(storey, "Name", None) if storey is not None else None,
            "storey_id": storey.GlobalId if storey is not None else None,
            "materials": self.materials.get(key) or (self.materials.get(ifc_type.id()) if ifc_type else None),
            "psets": psets,
            "qtos": qtos,
        }
        if product.is_a("IfcBuildingStorey") and product.Elevation is not None:
            attributes["elevation"] = float(product.Elevation) * self.unit
        if storey is not None:
            attributes["storey_elevation"] = round(self.storey_elevation(storey), 4)
        for dimension in ("OverallWidth", "OverallHeight"):
            value = getattr(product, dimension, None)
            if isinstance(value, float):
                attributes[dimension[7:].lower()] = value * self.unit
        attributes = {k: v for k, v in attributes.items() if v not in (None, {}, [], "")}
        return ProductInfo(product.GlobalId, product.is_a(), getattr(product, "Name", None) or None,
                           parent.GlobalId if parent is not None and parent.is_a("IfcProduct") else None,
                           storey.GlobalId if storey is not None else None, attributes)

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
            matrix = ifcopenshell.util.placement.get_local_placement(placement)
        except Exception:
            return 0.0, 0.0, 0.0
        x, y, z = (float(v) * self.unit for v in matrix[:3, 3])
        return x, y, z


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
