"""The SensorThings `$filter`/`$orderby` grammar, its SQL (bound parameters only), the query options and resource
paths, as pure functions; the compiled SQL is also run on a real PostGIS to show PostgreSQL takes it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from twin.sta.compile import Compiler
from twin.sta.filter import Binary, Call, FilterError, Literal, Path, Unary, parse_filter, parse_orderby
from twin.sta.model import ENTITIES, observation_id, split_observation_id
from twin.sta.options import parse_query, split_top
from twin.sta.resource import NotFoundError, parse_path

DATASTREAMS = ENTITIES["Datastreams"]
OBSERVATIONS = ENTITIES["Observations"]


def test_operators_bind_as_odata_says_or_loosest_then_and_then_comparison_then_arithmetic() -> None:
    tree = parse_filter("a eq 1 or b add 2 mul 3 gt 4 and not c/d eq 'x'")
    assert tree == Binary("or", Binary("eq", Path(("a",)), Literal(1, "number")),
                          Binary("and", Binary("gt", Binary("add", Path(("b",)), Binary(
                              "mul", Literal(2, "number"), Literal(3, "number"))), Literal(4, "number")),
                                 Unary("not", Binary("eq", Path(("c", "d")), Literal("x", "string")))))


def test_literals_of_every_kind_are_read() -> None:
    assert parse_filter("x eq 'it''s'").right == Literal("it's", "string")  # type: ignore[union-attr]
    assert parse_filter("x eq -2.5e3").right == Literal(-2500.0, "number")  # type: ignore[union-attr]
    assert parse_filter("x eq 2026-12-02T08:00:00.5+01:00").right == Literal(  # type: ignore[union-attr]
        datetime.fromisoformat("2026-12-02T08:00:00.5+01:00"), "datetime")
    assert parse_filter("x eq null and y eq true").left.right == Literal(None, "null")  # type: ignore[union-attr]
    call = parse_filter("geo.intersects(location, geography'POINT(1 2)')")
    assert call == Call("geo.intersects", (Path(("location",)), Literal("POINT(1 2)", "geometry")))


@pytest.mark.parametrize(("text", "reason"), [
    ("", "$filter is empty"),
    ("name eq", "expected a value at position 7"),
    ("name eq 'open", "unterminated string literal at position 8"),
    ("(name eq 'a'", "expected ')' at position 12"),
    ("name eq 'a' name", "unexpected 'name' at position 12"),
    ("a eq 1 eq 2", "comparisons do not chain"),
    ("eq 1", "needs a value before it"),
    ("name eq #", "unexpected character '#'"),
    ("x eq 2026-13-45T00:00:00Z", "bad datetime literal"),
    ("a/ 'x'", "expected a property name after '/'"),
    ("(" * 100 + "a eq 1" + ")" * 100, "nests at most 64 levels"),
    ("a eq " + "1" * 400, "out of range"),
    ("a eq " + " add ".join(["1"] * 70), "nests at most 64 levels"),
    ("x eq 0001-01-01T00:00:00+01:00", "bad datetime literal"),
])
def test_filters_that_do_not_parse_say_what_and_where(text: str, reason: str) -> None:
    with pytest.raises(FilterError, match=re.escape(reason)):
        parse_filter(text)


def test_orderby_takes_expressions_with_directions() -> None:
    assert parse_orderby("phenomenonTime desc, Datastream/name") == [
        (Path(("phenomenonTime",)), True), (Path(("Datastream", "name")), False)]
    for bad in ("", "name,", "name up"):
        with pytest.raises(FilterError):
            parse_orderby(bad)


def compiled(text: str, entity: str = "Datastreams") -> tuple[str, list[object]]:
    compiler = Compiler()
    return compiler.condition(parse_filter(text), ENTITIES[entity], "e"), compiler.params


def test_client_values_become_bound_parameters_and_never_sql_text() -> None:
    sql, params = compiled("name eq 'x''; DROP TABLE sensors; --' and properties/a eq 1")
    assert "DROP" not in sql and "x'" not in sql
    assert params == ["x'; DROP TABLE sensors; --", ["a"], 1.0]


def test_a_json_member_is_compared_by_its_json_type() -> None:
    sql, params = compiled("properties/floor gt 2")
    assert "jsonb_typeof((e.properties #> $1::text[])) = 'number'" in sql and params == [["floor"], 2.0]
    sql, _ = compiled("properties/use eq 'school'")
    assert "#>> '{}'" in sql


def test_functions_compile_to_their_sql_equivalents() -> None:
    assert compiled("substringof('ga', name)")[0] == "(strpos(e.name, $1::text) > 0)"
    assert compiled("indexof(name, 'a') eq 0")[0] == "((strpos(e.name, $1::text) - 1)::float8 = $2::float8)"
    assert compiled("substring(name, 1, 2) eq 'x'")[0] == \
        "(substr(e.name, ($1::float8)::int + 1, ($2::float8)::int) = $3::text)"
    sql, params = compiled("st_within(observedArea, geometry'POLYGON((0 0, 1 0, 1 1, 0 0))')")
    assert sql == "ST_Within(e.observed_area, ST_GeomFromText($1::text, 4326))"
    assert params == ["POLYGON ((0 0, 1 0, 1 1, 0 0))"]
    sql, _ = compiled("year(phenomenonTime) eq 2026 and now() gt resultTime", "Observations")
    assert "extract(year FROM e.phenomenon_time AT TIME ZONE 'UTC')" in sql and "now() >" in sql


def test_a_navigation_path_in_a_filter_is_a_correlated_subquery() -> None:
    sql, params = compiled("Datastream/Thing/name eq 'Test house'", "Observations")
    assert "WHERE n1.id = e.datastream_id" in sql and "WHERE n2.id = n1.thing_id" in sql
    assert params == ["Test house"]


@pytest.mark.parametrize(("text", "reason"), [
    ("colour eq 1", "Datastream has no property 'colour'"),
    ("Thing eq 1", "Thing is an entity, not a value"),
    ("name/x eq 1", "property 'name' has no member 'x'"),
    ("name gt 1", "cannot compare a string value with a number value"),
    ("name eq null or observedArea eq geography'POINT(1 2)'", "compared with st_equals"),
    ("name lt null", "null can only be compared with eq or ne"),
    ("length(name, name) eq 1", "length takes 1 argument"),
    ("startswith(name, 1)", "startswith needs a string value, got a number value"),
    ("st_within(name, name)", "needs a geometry value"),
    ("geo.intersects(observedArea, geography'POINT(1 2')", "bad WKT literal"),
    ("geo.intersects(observedArea, geography'POINT(500 2)')", "outside lon/lat degrees"),
    ("name add 1 eq 2", "add needs a number value"),
    ("not name", "not needs a condition"),
    ("name and true", "and needs conditions on both sides"),
    ("true eq true and (1 eq 1) gt false", "only be compared with eq or ne"),
    ("nosuch(name)", "unsupported function 'nosuch'"),
])
def test_filters_that_make_no_sense_for_the_entity_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(FilterError, match=re.escape(reason)):
        compiled(text)


def test_query_options_are_checked_and_expand_nests_with_semicolon_separated_options() -> None:
    query = parse_query([("$expand", "Thing/Locations,Observations($filter=result gt 1;$top=1;$orderby="
                                     "phenomenonTime desc;$expand=FeatureOfInterest($select=name))"),
                         ("$top", "5"), ("$count", "true")], DATASTREAMS)
    assert query.top == 5 and query.count
    thing, observations = query.expand
    assert thing.navigation == "Thing" and thing.query.expand[0].navigation == "Locations"
    assert observations.query.top == 1 and observations.query.filter is not None
    assert observations.query.expand[0].query.select == ["name"] and not observations.query.is_latest()
    latest = parse_query([("$expand", "Observations($top=1;$orderby=phenomenonTime desc)")], DATASTREAMS)
    assert latest.expand[0].query.is_latest()
    for options, reason in (([("$top", "1"), ("$top", "2")], "given twice"),
                            ([("$expand", "Thing($top=2)")], "is one entity"),
                            ([("$expand", "Observations($top)")], "is not $name=value"),
                            ([("$expand", "Observations(")], "unbalanced"),
                            ([("$resultFormat", "dataArray")], "applies to a collection of Observations only"),
                            ([("$resultFormat", "csv")], "$resultFormat is default or dataArray")):
        with pytest.raises(FilterError, match=re.escape(reason)):
            parse_query(options, DATASTREAMS)
    assert split_top("a(b,c),'d,(e',f", ",") == ["a(b,c)", "'d,(e'", "f"]


def test_resource_paths_name_sets_entities_navigations_and_properties() -> None:
    resource = parse_path("Things('house.b')/Datastreams('GAS-1')/Observations")
    assert [(s.entity.name, s.id, s.via) for s in resource.steps] == [
        ("Thing", "house.b", None), ("Datastream", "GAS-1", "Datastreams"), ("Observation", None, "Observations")]
    assert resource.is_collection
    assert not parse_path("Datastreams('a''b')/Thing").is_collection
    assert parse_path("Datastreams('a''b')/Thing").steps[0].id == "a'b"
    assert parse_path("Things(17)").steps[0].id == "17"
    value = parse_path("Observations('X~1')/result/$value")
    assert value.member == "result" and value.raw_value and not value.is_collection
    with pytest.raises(NotFoundError):
        parse_path("Houses")
    with pytest.raises(NotFoundError):
        parse_path("Things('a')/Colour")
    for bad in ("Things/Datastreams", "Things('a'", "Datastreams('a')/Thing('b')", "Things/name"):
        with pytest.raises(FilterError):
            parse_path(bad)


def test_an_observation_id_is_its_datastream_and_microsecond_and_reads_back() -> None:
    us = 1_764_662_400_123_456
    assert observation_id("GAS-1", us) == "GAS-1~1764662400123456"
    assert split_observation_id("GAS:1.a~1764662400123456") == ("GAS:1.a", us)
    assert split_observation_id("GAS-1") is None and split_observation_id("~5") is None


def test_every_compiled_filter_runs_on_postgis(engine: Engine) -> None:
    texts = ["substringof('a', name) and length(name) gt 1", "unitOfMeasurement/name eq 'metre'",
             "Thing/properties/level ge 1", "geo.distance(observedArea, geography'POINT(13 52)') lt 1",
             "st_relate(observedArea, geography'POINT(13 52)', 'T********')", "trim(concat(name, ' ')) eq name"]
    with engine.connect() as conn:
        for text in texts:
            compiler = Compiler()
            where = compiler.condition(parse_filter(text), DATASTREAMS, "e")
            sql = f"SELECT count(*) FROM ({DATASTREAMS.sql}) AS e WHERE {where}"
            numbered = sql.replace("%", "%%")
            for index in range(len(compiler.params), 0, -1):
                numbered = numbered.replace(f"${index}::", f"%(p{index})s::")
            conn.exec_driver_sql(numbered, {f"p{i + 1}": v for i, v in enumerate(compiler.params)})
    when = datetime(2026, 12, 2, tzinfo=UTC)
    compiler = Compiler()
    assert compiler.condition(parse_filter("phenomenonTime lt 2026-12-02T00:00:00Z"), OBSERVATIONS, "e") == \
        "(e.phenomenon_time < $1::timestamptz)" and compiler.params == [when]
