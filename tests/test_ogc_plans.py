"""The query SQL uses the indexes: EXPLAIN on a 100,000-object table, with the planner free to choose (no
`enable_seqscan = off`), for the exact statements the API builds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, Select
from sqlalchemy.engine import make_url

from bench.synthetic import LAT0, LON0, STEP_LAT, STEP_LON, create_synthetic
from twin.ogc.catalog import get_collection
from twin.ogc.filters import Queryables, compile_filter, parse_filter
from twin.ogc.items import items_statement, parse_items_request
from twin.ogc.sql import OBJECTS, SqlQuery, feature_select
from twin.queries import (
    children_statement,
    containing_query,
    initial_candidates,
    knn_query,
    near_query,
    parse_geometry,
    within_statement,
)

GIST = {"twin_objects_footprint_gist", "twin_objects_kind_footprint_gist"}  # footprint GiST indexes
N = 100_000
LON, LAT = LON0 + 150.2 * STEP_LON, LAT0 + 150.2 * STEP_LAT


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, server_url: str, template_database: str) -> Iterator[Engine]:
    from tests.conftest import _admin, _drop_database
    from twin.db import create_db_engine

    name = f"citytwin_plans_{os.getpid()}"
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = make_url(server_url).set(database=name).render_as_string(False)
    engine = create_db_engine(url)
    create_synthetic(engine, N, "big")
    yield engine
    engine.dispose()
    _drop_database(server_url, url)


def _plan(engine: Engine, query: Select[Any] | SqlQuery) -> dict[str, Any]:
    sql, params = (query if isinstance(query, SqlQuery) else SqlQuery(query, {})).compiled(engine)
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", params).scalar_one()[0]["Plan"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _indexes(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in _nodes(plan) if "Index Name" in node}


def _no_seq_scan_of_objects(plan: dict[str, Any]) -> bool:
    return not any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "twin_objects" for n in _nodes(plan))


def test_bbox_items_use_the_footprint_index(big: Engine) -> None:
    with big.connect() as conn:
        collection = get_collection(conn, "big")
    box = f"{LON - 0.001},{LAT - 0.001},{LON + 0.001},{LAT + 0.001}"
    plan = _plan(big, items_statement(parse_items_request({"bbox": [box], "limit": ["100"]}, collection, None)))
    assert GIST & _indexes(plan) and _no_seq_scan_of_objects(plan)


def test_radius_containment_and_within_use_the_footprint_index(big: Engine) -> None:
    polygon = parse_geometry(f"POLYGON(({LON} {LAT}, {LON + 0.002} {LAT}, {LON + 0.002} {LAT + 0.002}, "
                             f"{LON} {LAT + 0.002}, {LON} {LAT}))")
    for statement in (near_query(LON, LAT, 100, None, 100), containing_query(LON, LAT, 5.0, None),
                      within_statement(polygon, "within", None, 100, None)):
        plan = _plan(big, statement)
        assert GIST & _indexes(plan), plan
        assert _no_seq_scan_of_objects(plan)


def test_nearest_walks_the_footprint_index_in_distance_order(big: Engine) -> None:
    plan = _plan(big, knn_query(LON, LAT, "hydrant", 10, initial_candidates(10, LAT)))
    scans = [n for n in _nodes(plan) if n.get("Index Name") in GIST]
    assert scans and scans[0]["Node Type"] == "Index Scan" and "<->" in scans[0]["Order By"]
    assert _no_seq_scan_of_objects(plan)


def test_cql2_spatial_filters_use_the_footprint_index(big: Engine) -> None:
    queryables = Queryables({"height": "number", "levels": "number", "use": "string"})
    for text_filter in (f"S_INTERSECTS(geometry, POINT({LON} {LAT}))", f"S_DWITHIN(geometry, POINT({LON} {LAT}), 80)",
                        f"S_WITHIN(geometry, BBOX({LON}, {LAT}, {LON + 0.002}, {LAT + 0.002})) AND height > 20"):
        condition = compile_filter(parse_filter(text_filter, "cql2-text"), queryables)
        plan = _plan(big, feature_select().where(condition).order_by(OBJECTS.c.id).limit(11))
        assert GIST & _indexes(plan), text_filter
        assert _no_seq_scan_of_objects(plan)


def test_attribute_equality_uses_the_attribute_index_and_children_the_parent_index(big: Engine) -> None:
    queryables = Queryables({"use": "string", "operator": "string"})
    condition = compile_filter(parse_filter("operator = 'nobody'", "cql2-text"), queryables)
    assert "twin_objects_attributes" in _indexes(_plan(big, feature_select().where(condition).limit(11)))
    assert "twin_objects_parent" in _indexes(_plan(big, children_statement("big.000001", None, 100, None)))
