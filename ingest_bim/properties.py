"""Property and quantity set values read by attribute position: the common sets (every property a single value,
every quantity a simple one) without `ifcopenshell.util.element`'s per-attribute lookups by name.

Exports carry several sets per element, each its own, so a model of 1,000 elements holds tens of thousands of
properties; read by name (three wrapper calls per attribute) they cost more than the rest of `describe`. Any
other set (enumerations, lists, bounded or table values, complex properties or quantities, IFC4 predefined sets)
is left to `ifcopenshell.util.element.get_property_definition`, and the result equals it (tested) minus its `id`.
"""

from __future__ import annotations

from typing import Any

import ifcopenshell
import ifcopenshell.util.element

_SIMPLE_QUANTITIES = frozenset({"IfcQuantityLength", "IfcQuantityArea", "IfcQuantityVolume", "IfcQuantityCount",
                                "IfcQuantityWeight", "IfcQuantityTime", "IfcQuantityNumber"})


def _single_values(properties: tuple[ifcopenshell.entity_instance, ...]) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    for prop in properties:
        if prop.is_a() != "IfcPropertySingleValue":
            return None
        nominal = prop.get_argument(2)  # NominalValue
        values[prop.get_argument(0)] = nominal.get_argument(0) if nominal else None
    return values


def _simple_quantities(quantities: tuple[ifcopenshell.entity_instance, ...]) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    for quantity in quantities:
        if quantity.is_a() not in _SIMPLE_QUANTITIES:
            return None
        values[quantity.get_argument(0)] = quantity.get_argument(3)  # Name, then the value
    return values


def definition_values(definition: ifcopenshell.entity_instance) -> dict[str, Any]:
    """The values of a property definition by name, as `get_property_definition` gives them (without `id`)."""
    kind = definition.is_a()
    values: dict[str, Any] | None = None
    if kind == "IfcPropertySet":
        values = _single_values(definition.get_argument(4) or ())
    elif kind == "IfcElementQuantity":
        values = _simple_quantities(definition.get_argument(5) or ())
    if values is None:
        values = dict(ifcopenshell.util.element.get_property_definition(definition) or {})
        values.pop("id", None)
    return values
