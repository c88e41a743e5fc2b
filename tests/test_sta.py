"""SensorThings API 1.1 read requests against a real server on a real PostGIS: the model mapping, navigation,
query options, filters (and filter injection), paging, the latest observation from the live state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import populated_server
from tests.helpers.city import EAST_ROOM_CENTRE, HOUSE_LAT, HOUSE_LON, add_house_and_street
from twin.live.state import to_us

FAR = (HOUSE_LON + 0.05, HOUSE_LAT + 0.05)
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SENSORS = [
    {"id": "GAS-EAST-1", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4.5], "name": "boiler gas"},
    {"id": "SMOKE-B", "kind": "smoke", "object_id": "house.b", "name": "hall smoke"},
    {"id": "TEMP-B", "kind": "temperature", "object_id": "house.b", "name": "hall temperature"},
    {"id": "WL-FAR-1", "kind": "water_level", "position": [*FAR, 2.0], "name": "river gauge"},
]
GAS = [1.0, 2.0, 3.0, 4.0, 5.0]


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def sta(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[str, Engine]]:
    with populated_server(server_url, template_database, Path(tmp_path_factory.mktemp("sta")),
                          add_house_and_street) as (base, engine):
        assert httpx.post(f"{base}/sensors", json=SENSORS).status_code == 201
        readings = [{"sensor": "GAS-EAST-1", "time": iso(T0 + timedelta(minutes=i)), "value": v}
                    for i, v in enumerate(GAS)]
        readings += [{"sensor": "SMOKE-B", "time": iso(T0), "value": 0},
                     {"sensor": "SMOKE-B", "time": iso(T0 + timedelta(minutes=1)), "value": 1},
                     {"sensor": "TEMP-B", "time": iso(T0), "value": 21.5},
                     {"sensor": "WL-FAR-1", "time": iso(T0), "value": 0.05}]
        assert httpx.post(f"{base}/readings", json=readings).json()["accepted"] == 9
        wait_until(lambda: get(f"{base}/sta/v1.1", "Datastreams('SMOKE-B')", {
            "$expand": "Observations($top=1;$orderby=phenomenonTime desc)"})["Observations"])
        yield f"{base}/sta/v1.1", engine


@pytest.fixture
def base(sta: tuple[str, Engine]) -> str:
    return sta[0]


def get(base: str, path: str, params: dict[str, Any] | None = None, status: int = 200) -> Any:
    answer = httpx.get(f"{base}/{path}", params=params)
    assert answer.status_code == status, answer.text
    return answer.json()


def ids(base: str, path: str, **params: Any) -> list[str]:
    return [e["@iot.id"] for e in get(base, path, params)["value"]]


def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_service_root_lists_the_entity_sets_and_the_conformance_classes(base: str) -> None:
    root = get(base, "")
    assert [s["name"] for s in root["value"]] == ["Things", "Locations", "HistoricalLocations", "Datastreams",
                                                  "Sensors", "ObservedProperties", "Observations",
                                                  "FeaturesOfInterest"]
    assert root["value"][0]["url"] == f"{base}/Things"
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data" in root["serverSettings"]["conformance"]


def test_things_are_the_objects_carrying_sensors_and_an_unbound_sensor_is_a_thing_of_its_own(base: str) -> None:
    assert ids(base, "Things") == ["house.b", "house.s1.east", "sensor:WL-FAR-1"]
    thing = get(base, "Things('house.b')")
    assert thing["@iot.selfLink"] == f"{base}/Things('house.b')" and thing["name"] == "Test house"
    assert thing["properties"]["kind"] == "building" and thing["properties"]["use"] == "school"
    assert thing["Datastreams@iot.navigationLink"] == f"{base}/Things('house.b')/Datastreams"
    assert ids(base, "Things('house.b')/Datastreams") == ["SMOKE-B", "TEMP-B"]
    assert get(base, "Things('nope')", status=404)["detail"] == "no Thing 'nope'"
    assert "no entity set 'Houses'" in get(base, "Houses", status=404)["detail"]
    assert get(base, "Things('nope')/Datastreams", status=404)
    expanded = get(base, "Things", {"$expand": "Datastreams($count=true;$select=id)"})["value"]
    assert {t["@iot.id"]: (t["Datastreams@iot.count"], [d["@iot.id"] for d in t["Datastreams"]]) for t in expanded
            } == {"house.b": (2, ["SMOKE-B", "TEMP-B"]), "house.s1.east": (1, ["GAS-EAST-1"]),
                  "sensor:WL-FAR-1": (1, ["WL-FAR-1"])}
    assert ids(base, "Things('sensor:WL-FAR-1')/Datastreams") == ["WL-FAR-1"]
    assert len(ids(base, "FeaturesOfInterest('house.b')/Observations")) == 3
    assert len(ids(base, "FeaturesOfInterest('sensor:WL-FAR-1')/Observations")) == 1


def test_a_location_is_the_object_centroid_at_its_base_height_or_the_sensor_position(base: str) -> None:
    room = get(base, "Things('house.s1.east')/Locations")["value"][0]
    assert room["encodingType"] == "application/geo+json" and room["location"]["type"] == "Point"
    lon, lat, h = room["location"]["coordinates"]
    assert lon == pytest.approx(EAST_ROOM_CENTRE[0]) and lat == pytest.approx(EAST_ROOM_CENTRE[1]) and h == 3
    far = get(base, "Locations('sensor:WL-FAR-1')")
    assert far["location"]["coordinates"] == pytest.approx([*FAR, 2.0])
    assert ids(base, "Locations('house.b')/Things") == ["house.b"]


def test_a_datastream_carries_its_unit_observation_type_sensor_and_observed_property(base: str) -> None:
    gas = get(base, "Datastreams('GAS-EAST-1')")
    assert gas["unitOfMeasurement"] == {"name": "percent of the lower explosive limit", "symbol": "%LEL",
                                        "definition": "http://qudt.org/vocab/unit/PERCENT"}
    assert gas["observationType"].endswith("OM_Measurement") and gas["name"] == "boiler gas"
    assert get(base, "Datastreams('SMOKE-B')")["observationType"].endswith("OM_TruthObservation")
    assert get(base, "Datastreams('GAS-EAST-1')/Thing")["@iot.id"] == "house.s1.east"
    sensor = get(base, "Datastreams('GAS-EAST-1')/Sensor")
    assert sensor["@iot.id"] == "gas" and sensor["encodingType"] == "text/html"
    assert get(base, "Datastreams('GAS-EAST-1')/ObservedProperty")["name"] == "combustible gas concentration"
    assert ids(base, "Sensors('temperature')/Datastreams") == ["TEMP-B"]
    assert get(base, "Datastreams('GAS-EAST-1')/name") == {"name": "boiler gas"}
    assert httpx.get(f"{base}/Datastreams('GAS-EAST-1')/name/$value").text == "boiler gas"


def test_observations_have_stable_ids_and_link_to_their_datastream_and_feature_of_interest(base: str) -> None:
    observations = get(base, "Datastreams('GAS-EAST-1')/Observations", {"$orderby": "phenomenonTime"})["value"]
    assert [o["result"] for o in observations] == GAS
    first = observations[0]
    assert first["@iot.id"] == f"GAS-EAST-1~{to_us(T0)}" and first["phenomenonTime"] == iso(T0)
    assert get(base, f"Observations('{first['@iot.id']}')") == first
    assert get(base, f"Observations('{first['@iot.id']}')/Datastream")["@iot.id"] == "GAS-EAST-1"
    feature = get(base, f"Observations('{first['@iot.id']}')/FeatureOfInterest")
    assert feature["@iot.id"] == "house.s1.east" and feature["feature"]["type"] == "Polygon"
    smoke = get(base, "Datastreams('SMOKE-B')/Observations", {"$orderby": "phenomenonTime"})["value"]
    assert [o["result"] for o in smoke] == [False, True]
    assert get(base, "Observations('GAS-EAST-1~12')", status=404)
    assert get(base, "Observations('no-tilde')", status=404)


def test_a_thing_has_one_historical_location_at_the_time_its_position_was_recorded(sta: tuple[str, Engine]
                                                                                 ) -> None:
    base, engine = sta
    with engine.connect() as conn:
        ingested: datetime = conn.execute(text("SELECT created_at FROM datasets WHERE id = 'house'")).scalar_one()
        written: datetime = conn.execute(text("SELECT updated_at FROM sensors WHERE id = 'WL-FAR-1'")).scalar_one()
    history = get(base, "Things('house.b')/HistoricalLocations")["value"]
    assert [(h["@iot.id"], h["time"]) for h in history] == [("house.b", iso(ingested))]
    assert history[0]["@iot.selfLink"] == f"{base}/HistoricalLocations('house.b')"
    assert history[0]["Thing@iot.navigationLink"] == f"{base}/HistoricalLocations('house.b')/Thing"
    assert get(base, "HistoricalLocations('sensor:WL-FAR-1')")["time"] == iso(written)
    assert get(base, "HistoricalLocations('house.b')/Thing")["name"] == "Test house"
    assert ids(base, "HistoricalLocations('house.b')/Locations") == ["house.b"]
    assert ids(base, "Locations('house.s1.east')/HistoricalLocations") == ["house.s1.east"]
    assert ids(base, "HistoricalLocations") == ["house.b", "house.s1.east", "sensor:WL-FAR-1"]
    assert ids(base, "HistoricalLocations", **{"$filter": f"time ge {iso(written)}"}) == ["sensor:WL-FAR-1"]
    expanded = get(base, "Things('house.b')", {"$expand": "HistoricalLocations($select=time;$expand=Locations)"})
    assert expanded["HistoricalLocations"][0]["Locations"][0]["location"]["type"] == "Point"
    assert get(base, "HistoricalLocations('nope')", status=404)["detail"] == "no HistoricalLocation 'nope'"


def test_ref_answers_the_links_of_the_entities_alone(base: str) -> None:
    refs = get(base, "Datastreams('GAS-EAST-1')/Observations/$ref", {"$orderby": "phenomenonTime", "$top": 2,
                                                                     "$count": "true"})
    assert refs["@iot.count"] == 5 and "$skip=2" in refs["@iot.nextLink"]
    assert refs["value"] == [{"@iot.selfLink": f"{base}/Observations('GAS-EAST-1~{to_us(T0 + timedelta(minutes=i))}')"}
                             for i in range(2)]
    following = httpx.get(refs["@iot.nextLink"]).json()
    assert len(following["value"]) == 2 and set(following["value"][0]) == {"@iot.selfLink"}
    assert get(base, "Things/$ref")["value"][0] == {"@iot.selfLink": f"{base}/Things('house.b')"}
    assert get(base, "Datastreams('GAS-EAST-1')/Thing/$ref") == {"@iot.selfLink": f"{base}/Things('house.s1.east')"}
    assert get(base, "Things('house.b')/Locations/$ref")["value"] == [{"@iot.selfLink": f"{base}/Locations('house.b')"}]
    assert "takes no $select" in get(base, "Things/$ref", {"$select": "name"}, status=400)["detail"]
    assert get(base, "Things('nope')/$ref", status=404)
    assert get(base, "Things/$ref/name", status=404)
    assert get(base, "Datastreams('GAS-EAST-1')/name/$ref", status=404)


def test_data_array_gives_observations_as_one_table_per_datastream(base: str) -> None:
    one = get(base, "Datastreams('GAS-EAST-1')/Observations", {"$resultFormat": "dataArray",
                                                              "$orderby": "phenomenonTime"})["value"]
    assert len(one) == 1 and one[0]["Datastream@iot.navigationLink"] == f"{base}/Datastreams('GAS-EAST-1')"
    assert one[0]["components"] == ["id", "phenomenonTime", "resultTime", "result"]
    assert one[0]["dataArray@iot.count"] == 5
    assert one[0]["dataArray"][0] == [f"GAS-EAST-1~{to_us(T0)}", iso(T0), iso(T0), 1.0]
    picked = get(base, "Observations", {"$resultFormat": "dataArray", "$select": "result,phenomenonTime",
                                        "$filter": "Datastream/id eq 'SMOKE-B' or Datastream/id eq 'TEMP-B'",
                                        "$orderby": "Datastream/id,phenomenonTime"})["value"]
    assert [(g["Datastream@iot.navigationLink"].rsplit("/", 1)[1], g["components"], g["dataArray"])
            for g in picked] == [("Datastreams('SMOKE-B')", ["result", "phenomenonTime"],
                                  [[False, iso(T0)], [True, iso(T0 + timedelta(minutes=1))]]),
                                 ("Datastreams('TEMP-B')", ["result", "phenomenonTime"], [[21.5, iso(T0)]])]
    paged = get(base, "Observations", {"$resultFormat": "dataArray", "$top": 4, "$count": "true"})
    assert paged["@iot.count"] == 9 and sum(g["dataArray@iot.count"] for g in paged["value"]) == 4
    rest = httpx.get(paged["@iot.nextLink"]).json()
    assert "$resultFormat=dataArray" in paged["@iot.nextLink"] and "components" in rest["value"][0]
    for params, reason in (({"$resultFormat": "csv"}, "$resultFormat is default or dataArray"),
                           ({"$resultFormat": "dataArray", "$expand": "Datastream"}, "takes no $expand"),
                           ({"$resultFormat": "dataArray", "$select": "Datastream"}, "not a property")):
        assert reason in get(base, "Observations", params, status=400)["detail"]
    assert "collection of Observations" in get(base, "Datastreams", {"$resultFormat": "dataArray"},
                                               status=400)["detail"]
    first = one[0]["dataArray"][0][0]
    assert "collection of Observations" in get(base, f"Observations('{first}')", {"$resultFormat": "dataArray"},
                                               status=400)["detail"]


MANDATORY = {  # the standard's data model: each entity's mandatory properties and its navigation properties
    "Things": ({"name", "description"}, {"Locations", "HistoricalLocations", "Datastreams"}),
    "Locations": ({"name", "description", "encodingType", "location"}, {"Things", "HistoricalLocations"}),
    "HistoricalLocations": ({"time"}, {"Thing", "Locations"}),
    "Datastreams": ({"name", "description", "unitOfMeasurement", "observationType"},
                    {"Thing", "Sensor", "ObservedProperty", "Observations"}),
    "Sensors": ({"name", "description", "encodingType", "metadata"}, {"Datastreams"}),
    "ObservedProperties": ({"name", "definition", "description"}, {"Datastreams"}),
    "Observations": ({"phenomenonTime", "result", "resultTime"}, {"Datastream", "FeatureOfInterest"}),
    "FeaturesOfInterest": ({"name", "description", "encodingType", "feature"}, {"Observations"}),
}


@pytest.mark.parametrize("entity_set", MANDATORY)
def test_every_entity_carries_the_data_models_mandatory_properties_and_navigation_links(base: str, entity_set: str
                                                                                         ) -> None:
    properties, navigations = MANDATORY[entity_set]
    for entity in get(base, entity_set)["value"]:
        assert properties <= set(entity) and {"@iot.id", "@iot.selfLink"} <= set(entity)
        assert {k.removesuffix("@iot.navigationLink") for k in entity if k.endswith("@iot.navigationLink")
                } == navigations
        assert httpx.get(entity["@iot.selfLink"]).json() == entity
        for navigation in navigations:
            assert httpx.get(entity[f"{navigation}@iot.navigationLink"]).status_code in (200, 404)


def test_the_standards_resource_path_and_query_examples_are_answered(base: str) -> None:
    """Section 9 of the standard, example by example, with this twin's ids for the standard's 1s."""
    first = get(base, "Datastreams('GAS-EAST-1')/Observations", {"$orderby": "phenomenonTime", "$top": 1})["value"][0]
    obs = f"Observations('{first['@iot.id']}')"
    assert get(base, f"{obs}/resultTime") == {"resultTime": iso(T0)}
    assert httpx.get(f"{base}/{obs}/resultTime/$value").text == iso(T0)
    assert get(base, f"Datastreams('GAS-EAST-1')/{obs}") == first
    assert get(base, f"Datastreams('GAS-EAST-1')/{obs}/resultTime") == {"resultTime": iso(T0)}
    assert get(base, f"Datastreams('GAS-EAST-1')/{obs}/FeatureOfInterest")["@iot.id"] == "house.s1.east"
    assert get(base, "Datastreams('TEMP-B')/Observations('GAS-EAST-1~1')", status=404)
    things = get(base, "Things", {"$expand": "Datastreams"})["value"]
    assert [d["@iot.id"] for d in things[0]["Datastreams"]] == ["SMOKE-B", "TEMP-B"]
    gas = get(base, "Datastreams('GAS-EAST-1')", {"$expand": "Observations,ObservedProperty"})
    assert len(gas["Observations"]) == 5 and gas["ObservedProperty"]["@iot.id"] == "gas"
    nested = get(base, "Things", {"$expand": "Datastreams/ObservedProperty"})["value"][0]["Datastreams"][0]
    assert nested["ObservedProperty"]["name"] == "smoke detected"
    picked = get(base, "Datastreams('GAS-EAST-1')", {"$select": "id", "$expand": "Sensor($select=description),"
                                                                                    "ObservedProperty"})
    assert set(picked) == {"@iot.id", "Sensor", "ObservedProperty"} and set(picked["Sensor"]) == {"description"}
    assert {frozenset(o) for o in get(base, "Observations", {"$select": "result,resultTime"})["value"]} == {
        frozenset({"result", "resultTime"})}
    assert [o["result"] for o in get(base, "Observations", {"$orderby": "result", "$top": 3})["value"]] == [
        False, 0.05, True]
    five = get(base, "Observations", {"$top": 5})
    assert len(five["value"]) == 5 and "$top=5" in five["@iot.nextLink"] and "$skip=5" in five["@iot.nextLink"]
    assert len(get(base, "Observations", {"$skip": 5})["value"]) == 4
    window = get(base, "Observations", {"$skip": 2, "$top": 2, "$orderby": "resultTime,id"})["value"]
    everything = get(base, "Observations", {"$orderby": "resultTime,id"})["value"]
    assert window == everything[2:4]
    assert get(base, "Things", {"$count": "true"})["@iot.count"] == 3
    assert ids(base, "ObservedProperties", **{"$filter": "name eq 'water level'"}) == ["water_level"]
    assert sorted(o["result"] for o in get(base, "Observations", {"$filter": "result lt 1.00"})["value"]) == [
        False, 0.05]
    assert len(get(base, "Observations", {"$filter": f"phenomenonTime gt {iso(T0)}"})["value"]) == 5
    hall = get(base, "Things", {"$expand": "Datastreams($filter=name eq 'hall smoke')"})["value"][0]
    assert [d["@iot.id"] for d in hall["Datastreams"]] == ["SMOKE-B"]


def test_select_picks_properties_and_expand_nests_with_its_own_options(base: str) -> None:
    things = get(base, "Things", {"$select": "id,name", "$filter": "id eq 'house.b'",
                                  "$expand": "Datastreams($select=name;$orderby=name desc;"
                                             "$expand=Observations($top=1;$orderby=result asc))"})["value"]
    assert len(things) == 1 and set(things[0]) == {"@iot.id", "name", "Datastreams"}
    temperature, smoke = things[0]["Datastreams"]
    assert temperature["name"] == "hall temperature" and [o["result"] for o in temperature["Observations"]] == [21.5]
    assert set(smoke) == {"name", "Observations", "Observations@iot.nextLink"}
    assert [o["result"] for o in smoke["Observations"]] == [False]
    following = httpx.get(smoke["Observations@iot.nextLink"]).json()
    assert [o["result"] for o in following["value"]] == [True] and "@iot.nextLink" not in following
    one = get(base, "Datastreams('GAS-EAST-1')", {"$expand": "Thing/Locations,Sensor"})
    assert one["Thing"]["@iot.id"] == "house.s1.east" and one["Thing"]["Locations"][0]["@iot.id"] == "house.s1.east"
    assert one["Sensor"]["@iot.id"] == "gas"
    paged = get(base, "Datastreams('GAS-EAST-1')", {"$expand": "Observations($top=2;$count=true)"})
    assert paged["Observations@iot.count"] == 5 and len(paged["Observations"]) == 2
    assert "$skip=2" in paged["Observations@iot.nextLink"]


def test_the_latest_observation_of_every_datastream_comes_from_the_live_state(sta: tuple[str, Engine]) -> None:
    base, engine = sta
    latest = get(base, "Datastreams", {"$expand": "Observations($top=1;$orderby=phenomenonTime desc)"})["value"]
    assert {d["@iot.id"]: d["Observations"][0]["result"] for d in latest} == {
        "GAS-EAST-1": 5.0, "SMOKE-B": True, "TEMP-B": 21.5, "WL-FAR-1": 0.05}
    gas = next(d for d in latest if d["@iot.id"] == "GAS-EAST-1")["Observations"][0]
    assert gas == get(base, "Datastreams('GAS-EAST-1')/Observations",
                      {"$top": 1, "$orderby": "phenomenonTime desc"})["value"][0]
    httpx.post(base.replace("/sta/v1.1", "/sensors"), json={"id": "TILT-1", "kind": "tilt", "object_id": "house.b"})
    httpx.post(base.replace("/sta/v1.1", "/readings"), json={"sensor": "TILT-1", "time": iso(T0), "value": 0.2})
    with engine.begin() as conn:  # gone from the table: only the hot latest-value store still has it
        conn.execute(text("DELETE FROM readings WHERE sensor_id = 'TILT-1'"))

    def tilt() -> list[Any]:
        one = get(base, "Datastreams('TILT-1')", {"$expand": "Observations($top=1;$orderby=phenomenonTime desc)"})
        return one["Observations"]  # type: ignore[no-any-return]
    wait_until(tilt)
    assert tilt()[0]["result"] == 0.2 and ids(base, "Datastreams('TILT-1')/Observations") == []
    httpx.delete(base.replace("/sta/v1.1", "/sensors/TILT-1"))


@pytest.mark.parametrize(("path", "condition", "expected"), [
    ("Datastreams", "name eq 'boiler gas'", ["GAS-EAST-1"]),
    ("Datastreams", "name ne 'boiler gas' and not (name eq 'river gauge')", ["SMOKE-B", "TEMP-B"]),
    ("Datastreams", "startswith(name, 'hall') or endswith(name, 'gauge')", ["SMOKE-B", "TEMP-B", "WL-FAR-1"]),
    ("Datastreams", "substringof('smo', name) and contains(name, 'hall')", ["SMOKE-B"]),
    ("Datastreams", "length(name) eq 10 and indexof(name, 'gas') eq 7", ["GAS-EAST-1"]),
    ("Datastreams", "tolower(toupper(name)) eq 'river gauge' and trim(concat(' x', ' ')) eq 'x'", ["WL-FAR-1"]),
    ("Datastreams", "substring(name, 5) eq 'smoke' and substring(name, 0, 4) eq 'hall'", ["SMOKE-B"]),
    ("Datastreams", "unitOfMeasurement/symbol eq '°C'", ["TEMP-B"]),
    ("Datastreams", "ObservedProperty/name eq 'water level' or Thing/name eq 'East room'",
     ["GAS-EAST-1", "WL-FAR-1"]),
    ("Datastreams", "Thing/properties/use eq 'school'", ["SMOKE-B", "TEMP-B"]),
    ("Things", "properties/area gt 100 and properties/area lt 300.5", ["house.s1.east"]),
    ("Things", f"geo.intersects(Locations/location, geography'POLYGON(({FAR[0] - 0.01} {FAR[1] - 0.01}, "
               f"{FAR[0] + 0.01} {FAR[1] - 0.01}, {FAR[0] + 0.01} {FAR[1] + 0.01}, {FAR[0] - 0.01} {FAR[1] - 0.01}))')",
     ["sensor:WL-FAR-1"]),
    ("Locations", f"geo.distance(location, geography'POINT({FAR[0]} {FAR[1]})') lt 0.001", ["sensor:WL-FAR-1"]),
    ("Locations", f"st_within(location, geometry'POLYGON(({HOUSE_LON - 1} {HOUSE_LAT - 1}, {HOUSE_LON + 1} "
                  f"{HOUSE_LAT - 1}, {HOUSE_LON} {HOUSE_LAT + 0.01}, {HOUSE_LON - 1} {HOUSE_LAT - 1}))')",
     ["house.b", "house.s1.east"]),
    ("FeaturesOfInterest", f"st_intersects(feature, geography'POINT({EAST_ROOM_CENTRE[0]} {EAST_ROOM_CENTRE[1]})')",
     ["house.b", "house.s1.east"]),
    ("Datastreams('GAS-EAST-1')/Observations", "result gt 2 and result le 4", ["3", "4"]),
    ("Datastreams('GAS-EAST-1')/Observations", "result add 1 eq 3 or result mul 2 eq 10 or result mod 4 eq 0",
     ["2", "4", "5"]),
    ("Datastreams('GAS-EAST-1')/Observations", "(result sub 1) div 2 eq 1 and -result lt 0", ["3"]),
    ("Datastreams('GAS-EAST-1')/Observations",
     f"phenomenonTime ge {iso(T0 + timedelta(minutes=3))} and resultTime lt {iso(T0 + timedelta(hours=1))}",
     ["4", "5"]),
    ("Datastreams('GAS-EAST-1')/Observations", f"minute(phenomenonTime) eq {(T0 + timedelta(minutes=1)).minute}",
     ["2"]),
    ("Datastreams('GAS-EAST-1')/Observations",
     f"date(phenomenonTime) ge date({iso(T0)}) and date(resultTime) le date({iso(T0 + timedelta(minutes=4))})",
     ["1", "2", "3", "4", "5"]),
    ("Datastreams('GAS-EAST-1')/Observations", f"time(phenomenonTime) eq time({iso(T0 + timedelta(minutes=2))})",
     ["3"]),
    ("Datastreams('GAS-EAST-1')/Observations", "totaloffsetminutes(phenomenonTime) eq 0 and "
     "totaloffsetminutes(2026-01-01T00:00:00+02:00) eq 120 and phenomenonTime gt mindatetime() and "
     "resultTime lt maxdatetime() and phenomenonTime lt now()", ["1", "2", "3", "4", "5"]),
    ("Observations", "result eq true and Datastream/Sensor/id eq 'smoke'", ["SMOKE-B"]),
    ("Observations", "result eq true", ["GAS-EAST-1", "SMOKE-B"]),  # a state's true is its 1
    ("Observations", "Datastream/Thing/name eq 'Test house' and result gt 20", ["TEMP-B"]),
    ("Observations", "FeatureOfInterest/id eq 'sensor:WL-FAR-1'", ["WL-FAR-1"]),
])
def test_filters_select_what_the_standard_says(base: str, path: str, condition: str, expected: list[str]) -> None:
    found = get(base, path, {"$filter": condition, "$orderby": "id"})["value"]
    if path.endswith("/Observations"):
        assert sorted(f"{o['result']:g}" for o in found) == expected
    elif path == "Observations":
        assert sorted({o["@iot.id"].split("~")[0] for o in found}) == expected
    else:
        assert [e["@iot.id"] for e in found] == expected


def test_paging_by_next_link_returns_every_observation_exactly_once(base: str) -> None:
    page = get(base, "Observations", {"$top": 2, "$count": "true", "$orderby": "result desc"})
    assert page["@iot.count"] == 9
    seen = [o["@iot.id"] for o in page["value"]]
    while "@iot.nextLink" in page:
        page = httpx.get(page["@iot.nextLink"]).json()
        seen += [o["@iot.id"] for o in page["value"]]
    assert len(seen) == 9 == len(set(seen))
    assert get(base, "Observations", {"$top": 3, "$skip": 7})["value"].__len__() == 2
    assert ids(base, "Datastreams", **{"$orderby": "ObservedProperty/name desc,name", "$top": "2"}) == [
        "WL-FAR-1", "TEMP-B"]


@pytest.mark.parametrize(("params", "reason"), [
    ({"$filter": "colour eq 'red'"}, "Datastream has no property 'colour'"),
    ({"$filter": "name eq 5"}, "cannot compare a string value with a number value"),
    ({"$filter": "name eq 'unterminated"}, "unterminated string literal"),
    ({"$filter": "frobnicate(name)"}, "unsupported function 'frobnicate'"),
    ({"$filter": "totaloffsetminutes(name) eq 0"}, "totaloffsetminutes takes one datetime"),
    ({"$filter": "geo.intersects(observedArea, geography'POINT(1)')"}, "bad WKT literal"),
    ({"$filter": "name"}, "must be a condition"),
    ({"$filter": "Observations/result gt 1"}, "many entities"),
    ({"$select": "name,colour"}, "has no property 'colour'"),
    ({"$expand": "Things"}, "no navigation property 'Things'"),
    ({"$top": "10001"}, "$top is at most 10,000"),
    ({"$top": "-1"}, "$top must be a whole number"),
    ({"$skip": "x"}, "$skip must be a whole number"),
    ({"$count": "yes"}, "$count is true or false"),
    ({"$orderby": "name sideways"}, "expected asc, desc or ',' at position 5, found 'sideways'"),
    ({"$frobnicate": "1"}, "unknown query option"),
    ({"$filter": "name eq 'a'; DROP TABLE sensors"}, "unexpected character ';'"),
])
def test_bad_requests_are_refused_with_a_precise_reason(base: str, params: dict[str, str], reason: str) -> None:
    assert reason in get(base, "Datastreams", params, status=400)["detail"]


def test_filter_injection_attempts_are_harmless(base: str) -> None:
    for attack in ("name eq 'x'' OR ''1''=''1'", "name eq 'x''); DELETE FROM sensors; --'",
                   "startswith(name, '%') or substringof('_', name)"):
        assert get(base, "Datastreams", {"$filter": attack})["value"] == []
    assert get(base, "Things('house.b'') OR true OR (''')", status=404)
    assert len(ids(base, "Datastreams")) >= 4


def test_filter_injection_attempts_on_one_datastreams_observations_are_harmless(base: str) -> None:
    path = "Datastreams('GAS-EAST-1')/Observations"  # its pages are read by a binary COPY, parameters as literals
    before = ids(base, path)
    for attack in ("Datastream/name eq 'x'' OR ''1''=''1'", "Datastream/name eq 'x''); DELETE FROM readings; --'",
                   "FeatureOfInterest/name eq '\\'' OR true --'", "Datastream/name eq '$1::text'"):
        assert get(base, path, {"$filter": attack})["value"] == [], attack
    assert ids(base, path) == before and len(before) >= 3


def test_fraunhofers_sta_client_reads_things_datastreams_and_the_latest_observations(base: str) -> None:
    fsc = pytest.importorskip("frost_sta_client")
    service = fsc.SensorThingsService(base)
    things = list(service.things().query().orderby("id", "ASC").list())
    assert [t.id for t in things] == ["house.b", "house.s1.east", "sensor:WL-FAR-1"]
    assert things[0].name == "Test house"
    streams = service.datastreams().query().expand(
        "Observations($top=1;$orderby=phenomenonTime desc)").orderby("id", "ASC").list()
    latest = {d.id: [o.result for o in d.observations] for d in streams}
    assert latest["GAS-EAST-1"] == [5.0] and latest["SMOKE-B"] == [True] and latest["WL-FAR-1"] == [0.05]
    gas = service.datastreams().find("GAS-EAST-1")
    assert gas.unit_of_measurement.symbol == "%LEL" and gas.name == "boiler gas"
    observations = list(service.observations().query().filter("result gt 3").orderby("result", "ASC").list())
    assert [o.result for o in observations] == [4.0, 5.0, 21.5]
