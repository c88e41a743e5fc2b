"""The SensorThings fast paths (documents written column by column as JSON bytes, `twin/sta/encode.py`) give the
very bytes the plain path (a dict per entity, then orjson) gives: request by request through the real server,
against the plain path run on the same database and latest values, with `$select`, `$expand`, `$top`, `$skip`,
`$count`, `@iot.nextLink`, `$resultFormat=dataArray` and ids that need escaping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import numpy as np
import orjson
import pytest
from sqlalchemy import Engine, text

from tests.conftest import populated_server
from tests.helpers.city import EAST_ROOM_CENTRE, add_house_and_street
from twin.live.state import LiveState, to_us
from twin.live.store import init_connection, load_state
from twin.sta import query as sta_query
from twin.sta.binary import PG_EPOCH_US, ROW, SIGNATURE, CopyReader, literal, observation_columns, times_written
from twin.sta.documents import Page, documents_of, render, render_parts
from twin.sta.encode import Columns, PageWriter, Written, data_arrays_of, encode, encode_array, template
from twin.sta.model import OBSERVATIONS_SQL

ODD_OBJECT = "3$x'Ab ü/\"q"
"""A twin object id (IFC GUIDs hold `$`) whose Thing id needs escaping in links and in JSON."""
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SENSORS = [
    {"id": "GAS-1", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4.5], "name": "boiler \"gas\" ü"},
    {"id": "SMOKE-1", "kind": "smoke", "object_id": "house.b", "name": "hall smoke"},
    {"id": "TEMP-1", "kind": "temperature", "object_id": ODD_OBJECT, "name": "odd temperature"},
    {"id": "WL-1", "kind": "water_level", "position": [13.4, 52.5, 2.0]},
    {"id": "SILENT-1", "kind": "temperature", "object_id": "house.b", "name": "never reported"},
    {"id": "LONG-1", "kind": "water_level", "position": [13.41, 52.5, 2.0], "name": "long history"},
]
LONG = 1_500
"""LONG-1's readings: a page of them comes from PostgreSQL in several COPY chunks (≈260 rows each)."""


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def populate(engine: Engine) -> None:
    add_house_and_street(engine)
    with engine.begin() as conn:
        conn.execute(text("""INSERT INTO twin_objects SELECT (jsonb_populate_record(NULL::twin_objects,
                               to_jsonb(o) || jsonb_build_object('id', CAST(:id AS text), 'name', CAST(:id AS text)))).*
                             FROM twin_objects o WHERE o.id = 'house.b'"""), {"id": ODD_OBJECT})


@pytest.fixture(scope="module")
def served(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, str]]:
    """The server's STA root and the database's asyncpg DSN, with readings of every kind (times with and
    without microseconds, state results)."""
    with populated_server(server_url, template_database, Path(tmp_path_factory.mktemp("stafast")),
                          populate) as (base, engine):
        assert httpx.post(f"{base}/sensors", json=SENSORS).status_code == 201
        readings = [{"sensor": "GAS-1", "time": iso(T0 + timedelta(seconds=7 * i, microseconds=1234 * (i % 3))),
                     "value": v} for i, v in enumerate([1.0, 2.5, 3.0, 1e-7, 12345678.9, 0.1])]
        readings += [{"sensor": "SMOKE-1", "time": iso(T0 + timedelta(minutes=i)), "value": i % 2} for i in range(3)]
        readings += [{"sensor": "TEMP-1", "time": iso(T0), "value": 21.5},
                     {"sensor": "WL-1", "time": iso(T0 + timedelta(microseconds=5)), "value": -0.05}]
        readings += [{"sensor": "LONG-1", "time": iso(T0 - timedelta(seconds=7 * i, microseconds=i % 7)),
                      "value": round(i * 0.37 % 11, 3)} for i in range(LONG)]
        assert httpx.post(f"{base}/readings", json=readings).json()["accepted"] == len(readings)
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        deadline = time.monotonic() + 30
        with engine.connect() as conn:  # the latest values reach sensor_latest with the next flush (≈1 s)
            while conn.execute(text("SELECT count(*) FROM sensor_latest")).scalar() < 4:
                assert time.monotonic() < deadline, "the latest values were never flushed"
                time.sleep(0.1)
                conn.rollback()
        yield f"{base}/sta/v1.1", dsn


async def plain_and_fast(dsn: str, base: str, path: str, options: list[tuple[str, str]]) -> tuple[bytes, bytes]:
    """The body of one request by the plain path and by the fast path, on the database's latest values."""
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        state = await load_state(conn, 0)  # the sensors and latest values as a worker starts with them
        answers = [await sta_query.answer(conn, path, options, sta_query.Request(base, state, fast))
                   for fast in (False, True)]
    finally:
        await conn.close()
    bodies = [render(body) for body in answers]
    for body, whole in zip(answers, bodies, strict=True):  # the parts the server writes make the same body
        assert b"".join(render_parts(body)) == whole
    return bodies[0], bodies[1]


LATEST = "Observations($top=1;$orderby=phenomenonTime desc)"
REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("Observations", {}),
    ("Observations", {"$top": "4", "$orderby": "phenomenonTime desc"}),
    ("Observations", {"$top": "3", "$skip": "2", "$count": "true"}),
    ("Observations", {"$select": "result,phenomenonTime"}),
    ("Observations", {"$select": "id,Datastream", "$filter": "result gt 1"}),
    ("Observations", {"$select": "@iot.selfLink,FeatureOfInterest,resultTime"}),
    ("Observations", {"$resultFormat": "dataArray"}),
    ("Observations", {"$resultFormat": "dataArray", "$select": "result,id", "$top": "5"}),
    ("Datastreams('GAS-1')/Observations", {"$top": "2", "$orderby": "phenomenonTime desc"}),
    ("Datastreams('GAS-1')/Observations", {"$resultFormat": "dataArray", "$top": "3"}),
    ("Datastreams('GAS-1')/Observations", {"$resultFormat": "dataArray", "$select": "result,id,phenomenonTime"}),
    ("Datastreams('GAS-1')/Observations", {"$top": "2", "$skip": "1", "$count": "true",
                                           "$select": "id,resultTime,FeatureOfInterest"}),
    ("Datastreams('GAS-1')/Observations", {"$filter": f"phenomenonTime gt {iso(T0 + timedelta(seconds=10))}",
                                           "$resultFormat": "dataArray", "$count": "true"}),
    ("Datastreams('GAS-1')/Observations", {"$filter": "result gt 1000"}),
    ("Datastreams('GAS-1')/Observations", {"$filter": "FeatureOfInterest/name ne 'x' and result gt 2",
                                           "$count": "true"}),
    ("Datastreams('LONG-1')/Observations", {"$top": "1000", "$orderby": "phenomenonTime desc"}),  # cut mid-chunk
    ("Datastreams('LONG-1')/Observations", {"$top": "1000", "$skip": "700", "$count": "true",
                                            "$resultFormat": "dataArray"}),
    ("Datastreams('LONG-1')/Observations", {"$top": "1200", "$resultFormat": "dataArray", "$select": "id,result"}),
    ("Datastreams('LONG-1')/Observations", {"$top": "300", "$skip": "1400", "$select": "result"}),
    ("Datastreams('WL-1')/Observations", {}),  # a page of one row
    ("Datastreams('WL-1')/Observations", {"$resultFormat": "dataArray"}),
    ("Datastreams('SMOKE-1')/Observations", {}),
    ("Datastreams('SMOKE-1')/Observations", {"$resultFormat": "dataArray"}),
    ("Datastreams('SILENT-1')/Observations", {}),
    ("Datastreams('SILENT-1')/Observations", {"$resultFormat": "dataArray"}),
    (f"FeaturesOfInterest('{ODD_OBJECT.replace(chr(39), chr(39) * 2)}')/Observations", {}),
    ("Datastreams", {"$expand": LATEST}),
    ("Datastreams", {"$expand": LATEST, "$top": "2"}),
    ("Datastreams", {"$expand": "Observations($top=1;$orderby=resultTime desc;$select=result)",
                     "$select": "name,observedArea,unitOfMeasurement"}),
    ("Datastreams", {"$expand": LATEST, "$filter": "st_within(observedArea, geometry'POLYGON((13 52, 14 52, "
                                                   "14 53, 13 53, 13 52))')"}),
    ("Datastreams", {"$expand": "Observations($top=2)"}),
    ("Datastreams", {"$expand": "Observations($top=2;$count=true),Thing"}),
    ("Datastreams", {"$expand": f"{LATEST},Sensor"}),
    ("Datastreams", {"$select": "id,Thing", "$count": "true", "$top": "1"}),
    ("Datastreams('TEMP-1')", {"$expand": LATEST}),
    ("Datastreams('SILENT-1')", {"$expand": LATEST}),
    ("Things", {}),
    ("Things", {"$expand": f"Datastreams($expand={LATEST})"}),
    ("Things", {"$expand": "Locations,HistoricalLocations", "$select": "name,Locations"}),
    (f"Things('{ODD_OBJECT.replace(chr(39), chr(39) * 2)}')", {}),
    (f"Things('{ODD_OBJECT.replace(chr(39), chr(39) * 2)}')/Datastreams", {"$expand": LATEST}),
    ("Locations", {}),
    ("HistoricalLocations", {"$top": "2"}),
    ("Sensors", {"$expand": "Datastreams($select=name)"}),
    ("ObservedProperties", {"$select": "name,definition"}),
    ("FeaturesOfInterest", {"$expand": "Observations($top=1)"}),
]


@pytest.mark.parametrize(("path", "params"), REQUESTS, ids=[f"{p}?{urlencode(q)}" for p, q in REQUESTS])
def test_the_fast_path_answers_byte_for_byte_as_the_plain_path(served: tuple[str, str], path: str,
                                                               params: dict[str, str]) -> None:
    base, dsn = served
    plain, fast = asyncio.run(plain_and_fast(dsn, base, path, list(params.items())))
    assert fast == plain
    answer = httpx.get(f"{base}/{path}", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.content == plain


def test_the_page_links_of_a_fast_answer_lead_through_every_observation_once(served: tuple[str, str]) -> None:
    base, _ = served
    for url, count in ((f"{base}/Observations?$top=2&$select=id&$filter=Datastream/id ne 'LONG-1'", 11),
                       (f"{base}/Datastreams('LONG-1')/Observations?$top=400&$select=id", LONG)):
        seen: list[str] = []
        link: str | None = url
        while link is not None:
            page = httpx.get(link).json()
            seen += [o["@iot.id"] for o in page["value"]]
            link = page.get("@iot.nextLink")
        assert len(seen) == len(set(seen)) == count


def test_encoding_columns_equals_encoding_dicts_for_values_that_need_escaping() -> None:
    base = "http://h:1/sta/v1.1"
    times = [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
    things: Columns = {"id": ["plain.id", "odd'\"\\\n$ ü"], "name": ["a, \"b\"", None], "description": ["x\ty", "€"],
              "properties": ['{"a": [1, 2]}', None]}
    observations: Columns = {"id": ["S~1", "S~2"], "datastream_id": ["S", "S"], "phenomenon_time": times,
                    "result": [True, 1e300]}
    for set_name, columns in (("Things", things), ("Observations", observations)):
        rows = [{name: values[i] for name, values in columns.items()} for i in range(2)]
        for select in (None, ["name"], ["id", "@iot.selfLink"], ["result", "Datastream"]):
            if select is not None and set_name == "Things" and "result" in select:
                continue
            if select is not None and set_name == "Observations" and "name" in select:
                continue
            written = encode(set_name, columns, 2, base, select)
            assert written == [render(d) for d in documents_of(sta_query.ENTITIES[set_name], rows, base, select)]
    assert encode("Things", things, 2, 'http://h:1/"quoted"', None) is None  # a base to escape: the plain path


def test_observation_pages_and_latest_observations_take_the_fast_path(served: tuple[str, str]) -> None:
    base, dsn = served

    async def values() -> tuple[Any, Any]:
        conn = await asyncpg.connect(dsn)
        try:
            request = sta_query.Request(base, LiveState())
            page = await sta_query.answer(conn, "Observations", [], request)
            latest = await sta_query.answer(conn, "Datastreams", [("$expand", LATEST)], request)
        finally:
            await conn.close()
        return page["value"], latest["value"]

    page, latest = asyncio.run(values())
    assert isinstance(page, Page) and isinstance(latest, Page)


def test_a_page_written_in_one_piece_equals_its_documents_joined() -> None:
    base = "http://h:1/sta/v1.1"
    stamps = [datetime(2026, 1, 2, 3, 4, 5, us, tzinfo=UTC) for us in (0, 1, 999_999)]
    page: Columns = {"id": ["S~1", "S~2", "S~3"], "datastream_id": ["S"] * 3, "phenomenon_time": stamps,
                     "result": [1.5, False, None]}
    extra = [b',"x":1', b',"x":[]', b',"x":{}']
    for select in (None, ["result"], ["@iot.selfLink", "FeatureOfInterest"]):
        for more in (None, extra):
            for count in (0, 1, 3):
                columns = {name: values[:count] for name, values in page.items()}
                documents = encode("Observations", columns, count, base, select, more[:count] if more else None)
                whole = encode_array("Observations", columns, count, base, select, more[:count] if more else None)
                assert documents is not None and whole is not None
                assert whole.text == b"[" + b",".join(documents) + b"]"
                assert orjson.loads(whole.text) == [orjson.loads(d) for d in documents]


def test_a_written_page_goes_out_as_parts_that_make_the_rendered_body() -> None:
    page = Page(b'[{"@iot.id":"S~1","result":1.5}]')
    for body in ({"value": page}, {"@iot.count": 2, "@iot.nextLink": "http://x/Observations?$skip=1", "value": page}):
        parts = render_parts(body)
        assert len(parts) == 3 and parts[1] is page.text
        assert b"".join(parts) == render(body)
        assert orjson.loads(render(body))["value"] == [{"@iot.id": "S~1", "result": 1.5}]
    assert render_parts({"value": [1], "@iot.count": 1}) == [render({"value": [1], "@iot.count": 1})]


def test_one_datastreams_observations_are_read_in_binary_unless_they_are_states(served: tuple[str, str]) -> None:
    _, dsn = served

    async def read(stream: str) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await observation_columns(conn, f"FROM ({OBSERVATIONS_SQL}) AS e WHERE e.datastream_id = "
                                             "$1::text ORDER BY e.phenomenon_time DESC", [stream], stream)
        finally:
            await conn.close()

    gas = asyncio.run(read("GAS-1"))
    assert isinstance(gas["id"], Written) and len(gas["id"]) == 6
    assert gas["result"].items == [b"0.1", b"12345678.9", b"1e-7", b"3.0", b"2.5", b"1.0"]
    assert asyncio.run(read("SMOKE-1")) is None  # true/false results: the row path
    assert asyncio.run(read("SILENT-1"))["id"].items == []


def test_a_long_page_written_as_it_is_read_equals_it_written_from_its_columns(served: tuple[str, str]) -> None:
    base, dsn = served
    table = f"FROM ({OBSERVATIONS_SQL}) AS e WHERE e.datastream_id = $1::text ORDER BY e.phenomenon_time DESC " \
            "LIMIT 1201"

    async def read(writer: PageWriter) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await observation_columns(conn, table, ["LONG-1"], "LONG-1", writer=writer)
        finally:
            await conn.close()

    documents = PageWriter(template("Observations", None, base, False), None, 1200)
    columns = asyncio.run(read(documents))
    assert len(columns["id"]) == 1201
    kept = {name: values[:1200] for name, values in columns.items()}
    whole = encode_array("Observations", kept, 1200, base, None)
    assert whole is not None and documents.page(base, "LONG-1", 1200).text == whole.text
    rows = PageWriter(None, ["result", "id"], 1200)
    asyncio.run(read(rows))
    assert orjson.loads(orjson.dumps(rows.page(base, "LONG-1", 1200))) == orjson.loads(
        orjson.dumps(data_arrays_of(kept, 1200, base, ["result", "id"])))


def test_times_decoded_from_binary_are_written_as_orjson_writes_their_datetimes() -> None:
    times = [datetime(1000, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
             datetime(1970, 1, 1, tzinfo=UTC), datetime(2026, 12, 3, 8, 0, 0, 120_000, tzinfo=UTC),
             datetime(2026, 12, 3, 8, 0, 1, 5, tzinfo=UTC), datetime(9998, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
    us = np.array([to_us(t) for t in times], dtype=np.int64)
    assert times_written(us) == [orjson.dumps(t, option=orjson.OPT_UTC_Z) for t in times]
    rows = np.array([(2, 8, u - PG_EPOCH_US, 8, v) for u, v in zip(us.tolist(), range(6), strict=True)],
                    dtype=ROW).tobytes()
    copied = SIGNATURE + bytes(8) + rows + b"\xff\xff"
    whole = read_copy([copied])
    assert whole is not None and list(whole["phenomenon_time"]) == times_written(us)
    assert list(whole["result"]) == [b"0.0", b"1.0", b"2.0", b"3.0", b"4.0", b"5.0"]
    assert read_copy([SIGNATURE + bytes(8) + rows[:-1] + b"\xff\xff"]) is None  # a row cut short (a null's length)
    assert read_copy([SIGNATURE + bytes(8) + rows]) is None  # no end
    assert read_copy([b"NOTACOPY\n" + copied[9:]]) is None


def read_copy(chunks: list[bytes], writer: PageWriter | None = None) -> Columns | None:
    reader = CopyReader("S-1", writer)
    for chunk in chunks:
        reader.feed(chunk)
    return reader.columns()


def test_a_copy_read_in_chunks_cut_anywhere_equals_it_read_whole_and_so_does_its_page() -> None:
    rng = np.random.default_rng(3)
    us = np.sort(rng.integers(to_us(datetime(2020, 1, 1, tzinfo=UTC)), to_us(datetime(2027, 1, 1, tzinfo=UTC)), 500))
    rows = np.array([(2, 8, u - PG_EPOCH_US, 8, v) for u, v in zip(us.tolist(), rng.normal(size=500), strict=True)],
                    dtype=ROW).tobytes()
    copied = SIGNATURE + bytes(4) + (3).to_bytes(4, "big") + b"ext" + rows + b"\xff\xff"  # a header extension
    whole = read_copy([copied])
    assert whole is not None and len(whole["id"]) == 500
    base, top = "http://h:1/sta/v1.1", 450
    kept = {name: values[:top] for name, values in whole.items()}
    page = encode_array("Observations", kept, top, base, None)
    assert page is not None
    for _ in range(20):
        cuts = sorted(set(rng.integers(1, len(copied), int(rng.integers(1, 60))).tolist()))
        chunks = [copied[a:b] for a, b in zip([0, *cuts], [*cuts, len(copied)], strict=True)]
        documents = PageWriter(template("Observations", None, base, False), None, top)
        read = read_copy(chunks, documents)
        assert read is not None and all(list(read[name]) == list(whole[name])
                                        for name in ("id", "phenomenon_time", "result"))
        assert documents.page(base, "S-1", top).text == page.text


def test_parameters_are_written_into_a_copied_statement_as_the_literals_they_bind() -> None:
    at = datetime(2026, 12, 3, 8, 0, 0, 5, tzinfo=UTC)
    assert [literal(v) for v in ("it's", 3, 0.1, True, at)] == ["'it''s'", "3", "0.1", "true",
                                                                "'2026-12-03T08:00:00.000005+00:00'"]
    assert literal("nul\x00") is None and literal(float("nan")) is None and literal([1]) is None


def test_a_datastream_the_live_state_knows_as_true_false_skips_the_binary_read() -> None:
    from twin.live.sensors import parse_sensor
    from twin.live.state import LiveState
    from twin.sta.history import binary_readable

    state = LiveState()
    state.put_sensor(parse_sensor({"id": "SMOKE-9", "kind": "smoke", "object_id": "house"}))
    state.put_sensor(parse_sensor({"id": "GAS-9", "kind": "gas", "object_id": "house"}))
    assert not binary_readable(state, "SMOKE-9")
    assert binary_readable(state, "GAS-9") and binary_readable(state, "UNKNOWN-9")  # unknown: the NULL check decides


def test_a_number_datastreams_page_is_read_from_readings_alone_unless_its_options_need_the_view() -> None:
    from twin.sta.history import READINGS_SQL
    from twin.sta.options import parse_query
    from twin.sta.resource import parse_path

    resource = parse_path("Datastreams('GAS-9')/Observations")
    entity = resource.last.entity

    def source(options: list[tuple[str, str]]) -> str:
        return sta_query.statement(resource, parse_query(options, entity), entity, "GAS-9").source

    assert source([]) is READINGS_SQL
    assert source([("$filter", "result gt 2 and phenomenonTime lt 2026-12-01T00:00:00Z"),
                   ("$orderby", "resultTime desc")]) is READINGS_SQL
    assert source([("$filter", "FeatureOfInterest/name eq 'hall'")]) == entity.sql  # the view's foi_id
    page = sta_query.statement(resource, parse_query([], entity), entity, None)
    assert page.source == entity.sql and "IN (SELECT" in page.condition  # a datastream not known: the path's link
