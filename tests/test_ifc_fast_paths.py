"""The hand-written fast paths of IFC ingest give what the plain IfcOpenShell utilities give, on the shared models
and on the generated office (property sets by position, placements computed once per placement, heights of
products at their placement origin in one conversion)."""

from __future__ import annotations

from pathlib import Path

import ifcopenshell
import ifcopenshell.util.element
import ifcopenshell.util.placement
import numpy as np
import pytest
import shapely

from ingest_bim import geometry
from ingest_bim.georef import GeorefOptions, read_georef
from ingest_bim.model import MIN_ITERATOR_THREADS, iterator_threads, make_iterator
from ingest_bim.properties import definition_values
from ingest_bim.reader import read_geometry
from ingest_bim.semantics import Semantics
from ingest_bim.spool import FeatureSpool
from ingest_bim.tileset import build_building_tileset
from scenes.ifc_office import PRODUCTS_PER_STOREY, generate_office
from tests.helpers.data import shared_data

SHARED = ["ifc/AC20-FZK-Haus.ifc", "ifc/Duplex_A_20110907.ifc", "ifc/geographic-referencing-utm.ifc"]


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("office") / "office.ifc"
    generate_office(path, 2)
    return path


def _models(office: Path) -> list[ifcopenshell.file]:
    return [ifcopenshell.open(str(shared_data(name))) for name in SHARED] + [ifcopenshell.open(str(office))]


def test_the_generated_office_is_rich_in_openings_fillings_spaces_sets_and_materials(office: Path) -> None:
    model = ifcopenshell.open(str(office))
    assert len(model.by_type("IfcProduct")) == 2 * PRODUCTS_PER_STOREY + 4  # site, building, two storeys
    openings = model.by_type("IfcOpeningElement")
    assert len(openings) == 2 * 36 and all(o.VoidsElements and o.HasFillings for o in openings)
    assert len(model.by_type("IfcDoor")) == 24 and len(model.by_type("IfcWindow")) == 48
    assert len(model.by_type("IfcSpace")) == 26
    wall = model.by_type("IfcWall")[0]
    assert set(ifcopenshell.util.element.get_psets(wall)) >= {"Pset_WallCommon", "Identity Data", "Constraints",
                                                              "Other", "Qto_WallBaseQuantities"}
    layers = [m.Name for m in ifcopenshell.util.element.get_materials(wall)]
    assert layers == ["Gypsum", "Concrete", "Insulation", "Gypsum"]
    door = model.by_type("IfcDoor")[0]
    assert ifcopenshell.util.element.get_type(door).is_a("IfcDoorType")
    assert door.Representation.Representations[0].Items[0].is_a("IfcMappedItem")


def test_property_and_quantity_sets_read_by_position_equal_ifcopenshells_reading(office: Path) -> None:
    checked = 0
    for model in _models(office):
        for definition in model.by_type("IfcPropertySetDefinition"):
            plain = dict(ifcopenshell.util.element.get_property_definition(definition) or {})
            plain.pop("id", None)
            fast = definition_values(definition)
            assert fast == plain and [type(v) for v in fast.values()] == [type(v) for v in plain.values()]
            checked += 1
    assert checked > 1500


def test_a_set_with_other_kinds_of_properties_is_read_by_ifcopenshell(tmp_path: Path) -> None:
    model = ifcopenshell.file(schema="IFC4")
    enumerated = model.createIfcPropertyEnumeratedValue("Finish", None, [model.create_entity("IfcLabel", "matt")])
    single = model.createIfcPropertySingleValue("Width", None, model.create_entity("IfcReal", 0.9), None)
    pset = model.createIfcPropertySet(ifcopenshell.guid.new(), None, "Mixed", None, [single, enumerated])
    assert definition_values(pset) == {"Width": 0.9, "Finish": ["matt"]}


def test_placements_computed_once_each_equal_ifcopenshells_matrices_bit_for_bit(office: Path) -> None:
    for model in _models(office):
        semantics = Semantics(model)
        for product in model.by_type("IfcProduct"):
            if product.ObjectPlacement is not None:
                plain = ifcopenshell.util.placement.get_local_placement(product.ObjectPlacement)
                assert np.array_equal(semantics.placement_matrix(product.ObjectPlacement), plain)


def test_products_at_their_placement_origin_get_the_heights_of_one_point_conversions(office: Path) -> None:
    for path, options in ((shared_data(SHARED[0]), GeorefOptions()), (office, GeorefOptions()),
                          (office, GeorefOptions(crs="EPSG:25833", origin=(390000.0, 5820000.0, 30.0)))):
        model = ifcopenshell.open(str(path))
        with FeatureSpool() as spool:
            result = read_geometry(path, "m", options, spool).finish()
        georef, semantics = read_georef(model, options), Semantics(model)
        heights = {o.id.split(".", 1)[1]: (o.zmin, o.zmax) for o in result.objects}
        checked = 0
        for opening in model.by_type("IfcOpeningElement"):
            x, y, z = semantics.placement_origin(opening)
            one = float(georef.to_geodetic(np.array([[x, y, z]]))[0, 2])
            assert heights[opening.GlobalId] == (one, one)
            checked += 1
        assert checked == len(model.by_type("IfcOpeningElement"))


def test_products_described_with_the_fast_readers_equal_those_described_with_ifcopenshells(
        office: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest_bim.semantics as semantics_module

    def plain_values(definition: ifcopenshell.entity_instance) -> dict:
        values = dict(ifcopenshell.util.element.get_property_definition(definition) or {})
        values.pop("id", None)
        return values

    described = 0
    for model in _models(office):
        fast = [Semantics(model).describe(p) for p in model.by_type("IfcProduct")]
        with monkeypatch.context() as patch:
            patch.setattr(semantics_module, "definition_values", plain_values)
            plain = [Semantics(model).describe(p) for p in model.by_type("IfcProduct")]
        assert fast == plain
        described += sum(len(info.attributes.get("psets", {})) for info in fast)
    assert described > 4000


def test_the_iterator_gets_at_least_sixteen_workers_and_one_core_computes_in_the_callers_thread() -> None:
    assert iterator_threads(2) == MIN_ITERATOR_THREADS == 16
    assert iterator_threads(64) == 64
    assert iterator_threads(1) == 1


def _shapes(model: ifcopenshell.file, cores: int) -> dict[str, tuple[bytes, bytes, bytes]]:
    iterator = make_iterator(model, cores)
    assert iterator is not None
    shapes = {}
    while True:
        shape = iterator.get()
        geometry = shape.geometry
        shapes[str(shape.guid)] = (geometry.verts_buffer, geometry.faces_buffer, geometry.material_ids_buffer)
        if not iterator.next():
            return shapes


def test_sixteen_workers_give_the_shapes_one_thread_gives_bit_for_bit(office: Path) -> None:
    for model in (ifcopenshell.open(str(shared_data(SHARED[0]))), ifcopenshell.open(str(office))):
        one = _shapes(model, 1)
        assert len(one) > 20
        assert _shapes(model, 2) == one


def _read(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[str, bytes]]]:
    with FeatureSpool() as spool:
        reading = read_geometry(path, "order", GeorefOptions(), spool)
        tiles = build_building_tileset(spool)
        bim = reading.finish()
    objects = [(o.id, shapely.to_wkb(o.footprint), o.zmin, o.zmax, o.parent_id) for o in bim.objects]
    return objects, sorted((e.path, e.content) for e in tiles.entries)


def test_objects_and_tiles_do_not_depend_on_the_order_the_iterator_yields_shapes_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared_data(SHARED[0])
    as_yielded = _read(path)
    drain = geometry.raw_shapes
    monkeypatch.setattr(geometry, "raw_shapes", lambda iterator: reversed(list(drain(iterator))))
    assert _read(path) == as_yielded
