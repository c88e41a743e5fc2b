"""OGC API – Features (Core, GeoJSON, OpenAPI 3.0, CRS) over ingested Berlin and NYC footprints."""

from __future__ import annotations

import httpx
import pytest
from openapi_spec_validator import validate
from shapely.geometry import shape

from tests.conftest import QueryCity

BERLIN_OBJECT = "berlin.23077868"


@pytest.fixture(scope="module")
def client(query_city: QueryCity) -> httpx.Client:
    return httpx.Client(base_url=query_city.base_url + "/ogc", timeout=60, follow_redirects=True)


def _rel(links: list[dict], rel: str) -> dict:  # type: ignore[type-arg]
    (found,) = [link for link in links if link["rel"] == rel]
    return found


def test_the_landing_page_links_the_api_definition_conformance_and_collections(client: httpx.Client) -> None:
    page = client.get("").json()
    assert _rel(page["links"], "service-desc")["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert _rel(page["links"], "conformance")["href"].endswith("/ogc/conformance")
    assert _rel(page["links"], "data")["href"].endswith("/ogc/collections")
    conformance = client.get("/conformance").json()["conformsTo"]
    for part in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/oas30",
                 "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter", "cql2/1.0/conf/cql2-text"):
        assert f"http://www.opengis.net/spec/{part}" in conformance


def test_the_api_definition_is_a_valid_openapi_3_0_document_with_every_query(client: httpx.Client) -> None:
    response = client.get("/api")
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    document = response.json()
    assert document["openapi"] == "3.0.3"
    validate(document)  # raises on any violation of the OpenAPI 3.0 schema
    assert document["servers"] == [{"url": client.base_url.join("/ogc").__str__()}]
    paths = document["paths"]
    for path in ("/", "/conformance", "/collections", "/collections/{collectionId}/items",
                 "/collections/{collectionId}/items/{featureId}"):
        assert path in paths and "servers" not in paths[path]
    for path in ("/query/near", "/query/at", "/query/nearest", "/query/within", "/objects/{object_id}/children",
                 "/objects/{object_id}/context"):
        assert paths[path]["servers"] == [{"url": str(client.base_url.join("/")).rstrip("/")}]
    names = {p["name"] for p in paths["/collections/{collectionId}/items"]["get"]["parameters"]}
    assert {"bbox", "bbox-crs", "datetime", "limit", "crs", "filter", "filter-lang", "filter-crs"} <= names
    berlin = {p["name"]: p for p in paths["/collections/berlin/items"]["get"]["parameters"]}
    assert {"bbox", "kind", "type", "levels", "attributes.id"} <= berlin.keys() and "collectionId" not in berlin
    assert berlin["levels"]["schema"] == {"type": "number"}


def test_collections_are_one_per_dataset_plus_all_objects_sensors_and_events_with_extents(client: httpx.Client) -> None:
    body = client.get("/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids == ["objects", "berlin", "house", "nyc", "street", "sensors", "events"]
    berlin = client.get("/collections/berlin").json()
    x1, y1, x2, y2 = berlin["extent"]["spatial"]["bbox"][0]
    assert 13.40 < x1 < x2 < 13.44 and 52.53 < y1 < y2 < 52.55
    assert berlin["extent"]["temporal"]["interval"][0][0].endswith("Z")
    assert "http://www.opengis.net/def/crs/EPSG/0/4326" in berlin["crs"]
    assert _rel(berlin["links"], "items")["type"] == "application/geo+json"
    everything = body["collections"][0]["extent"]["spatial"]["bbox"][0]
    assert everything[0] < -73 and everything[2] > 13  # New York to Berlin
    assert client.get("/collections/nowhere").status_code == 404


def test_queryables_and_feature_schema_describe_columns_and_attribute_types(client: httpx.Client) -> None:
    queryables = client.get("/collections/berlin/queryables")
    assert queryables.headers["content-type"] == "application/schema+json"
    properties = queryables.json()["properties"]
    assert properties["geometry"]["x-ogc-role"] == "primary-geometry" and properties["id"]["x-ogc-role"] == "id"
    assert properties["zmax"]["type"] == "number" and properties["type"]["type"] == "string"
    assert properties["levels"]["type"] == "number" and "attributes.id" in properties
    schema = client.get("/collections/nyc/schema").json()
    assert schema["properties"]["properties"]["properties"]["height"]["type"] == "string"  # "11.3" in the source
    described = client.get("/collections/nyc").json()["links"]
    assert _rel(described, "describedby")["href"].endswith("/ogc/collections/nyc/schema")


def test_items_are_geojson_with_flattened_attributes_and_a_feature_by_id(client: httpx.Client) -> None:
    response = client.get("/collections/berlin/items", params={"limit": 5})
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 5 and len(body["features"]) == 5
    ids = [f["id"] for f in body["features"]]
    assert ids == sorted(ids)
    one = client.get(f"/collections/berlin/items/{BERLIN_OBJECT}").json()
    assert one["type"] == "Feature" and one["geometry"]["type"] == "Polygon"
    assert one["id"] == BERLIN_OBJECT
    assert one["properties"] == {"attributes.id": "23077868", "type": "commercial",
                                 "dataset_id": "berlin", "kind": "building", "name": None, "parent_id": None,
                                 "zmin": 0.0, "zmax": 9.0}  # the source's own `id` attribute keeps its value
    assert client.get(f"/collections/nyc/items/{BERLIN_OBJECT}").status_code == 404
    assert client.get(f"/collections/objects/items/{BERLIN_OBJECT}").status_code == 200


def test_paging_with_next_links_returns_every_object_exactly_once(client: httpx.Client, query_city: QueryCity
                                                                   ) -> None:
    with query_city.engine.connect() as conn:
        expected = [r[0] for r in conn.exec_driver_sql("SELECT id FROM twin_objects ORDER BY id")]
    seen: list[str] = []
    url: str | None = "/collections/objects/items?limit=97"
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [f["id"] for f in body["features"]]
        nexts = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nexts[0] if nexts else None
        pages += 1
    assert seen == expected and len(set(seen)) == len(seen) == 635 + 15 + 6 + 6
    assert pages == -(-len(expected) // 97)


def test_bbox_filters_in_2d_and_by_height_in_3d(client: httpx.Client) -> None:
    box = "13.4139,52.5397,13.4145,52.5403"
    ids = {f["id"] for f in client.get("/collections/berlin/items", params={"bbox": box, "limit": 100}
                                       ).json()["features"]}
    assert BERLIN_OBJECT in ids and 1 <= len(ids) < 20
    house = "13.4300,52.5300,13.4304,52.5302"
    flat = client.get("/collections/house/items", params={"bbox": house}).json()["features"]
    assert len(flat) == 6
    low = client.get("/collections/house/items", params={"bbox": "13.4300,52.5300,0,13.4304,52.5302,2"}).json()
    assert sorted(f["id"] for f in low["features"]) == ["house.b", "house.s0"]
    rooms = client.get("/collections/house/items", params={"bbox": "13.4300,52.5300,4,13.4304,52.5302,5",
                                                           "kind": "space"}).json()
    assert sorted(f["id"] for f in rooms["features"]) == ["house.s1.east", "house.s1.west"]


def test_a_bbox_across_the_antimeridian_wraps_around_the_world(client: httpx.Client) -> None:
    # from 13.3° E eastwards across 180° to 73.95° W: Prenzlauer Berg (13.41° E) inside, Ridgewood (73.9° W) not
    wrapped = client.get("/collections/objects/items", params={"bbox": "13.3,40,-73.95,53", "limit": 10000}).json()
    datasets = {f["properties"]["dataset_id"] for f in wrapped["features"]}
    assert "berlin" in datasets and "nyc" not in datasets
    west = client.get("/collections/objects/items", params={"bbox": "-74,40,-73.85,41", "limit": 10000}).json()
    assert {f["properties"]["dataset_id"] for f in west["features"]} == {"nyc"}


def test_bbox_in_epsg_4326_takes_latitude_first_and_output_follows_the_crs(client: httpx.Client) -> None:
    lon_lat = client.get("/collections/berlin/items", params={"bbox": "13.4139,52.5397,13.4145,52.5403"}).json()
    lat_lon = client.get("/collections/berlin/items", params={
        "bbox": "52.5397,13.4139,52.5403,13.4145", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}).json()
    assert [f["id"] for f in lon_lat["features"]] == [f["id"] for f in lat_lon["features"]]
    plain = client.get(f"/collections/berlin/items/{BERLIN_OBJECT}").json()["geometry"]
    response = client.get(f"/collections/berlin/items/{BERLIN_OBJECT}",
                          params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert response.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4326>"
    flipped = response.json()["geometry"]["coordinates"][0][0]
    assert flipped == [plain["coordinates"][0][0][1], plain["coordinates"][0][0][0]]


def test_a_projected_crs_works_for_output_and_bbox(client: httpx.Client) -> None:
    utm = "http://www.opengis.net/def/crs/EPSG/0/25833"
    feature = client.get(f"/collections/berlin/items/{BERLIN_OBJECT}", params={"crs": utm}).json()
    x, y = feature["geometry"]["coordinates"][0][0]
    assert 390_000 < x < 400_000 and 5_820_000 < y < 5_830_000  # UTM 33N metres in Prenzlauer Berg
    minx, miny, maxx, maxy = shape(feature["geometry"]).bounds
    box = f"{minx + 1},{miny + 1},{maxx - 1},{maxy - 1}"
    ids = [f["id"] for f in client.get("/collections/berlin/items", params={"bbox": box, "bbox-crs": utm}
                                       ).json()["features"]]
    assert BERLIN_OBJECT in ids
    mercator = client.get("/collections/nyc/items", params={"crs": "EPSG:3857", "limit": 1}).json()
    x, y = mercator["features"][0]["geometry"]["coordinates"][0][0]
    assert -8_230_000 < x < -8_220_000 and 4_960_000 < y < 4_975_000


def test_property_filters_match_columns_and_attributes(client: httpx.Client) -> None:
    commercial = client.get("/collections/berlin/items", params={"type": "commercial", "limit": 1000}).json()
    assert commercial["numberReturned"] > 0
    assert all(f["properties"]["type"] == "commercial" for f in commercial["features"])
    nyc = client.get("/collections/nyc/items", params={"addr:street": "Clover Place", "limit": 100}).json()
    assert nyc["numberReturned"] >= 1
    assert all(f["properties"]["addr:street"] == "Clover Place" for f in nyc["features"])
    tall = client.get("/collections/nyc/items", params={"height": "11.3"}).json()
    assert {f["properties"]["height"] for f in tall["features"]} == {"11.3"}
    storeys = client.get("/collections/objects/items", params={"kind": "storey", "parent_id": "house.b"}).json()
    assert [f["id"] for f in storeys["features"]] == ["house.s0", "house.s1", "house.s2"]


def test_datetime_filters_on_the_ingest_time_of_the_dataset(client: httpx.Client) -> None:
    start = client.get("/collections/berlin").json()["extent"]["temporal"]["interval"][0][0]
    assert client.get("/collections/berlin/items", params={"datetime": f"{start}/.."}).json()["numberReturned"] == 10
    assert client.get("/collections/berlin/items", params={"datetime": start}).json()["numberReturned"] == 10
    assert client.get("/collections/berlin/items", params={"datetime": "../2000-01-01T00:00:00Z"}
                      ).json()["numberReturned"] == 0
    assert client.get("/collections/berlin/items", params={"datetime": "2000-01-01/2000-12-31"}
                      ).json()["numberReturned"] == 0


@pytest.mark.parametrize("params,fragment", [
    ({"limit": "0"}, "limit"), ({"limit": "10001"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"bbox": "1,2,3"}, "4 or 6 numbers"), ({"bbox": "a,b,c,d"}, "numbers"), ({"bbox": "3,2,1,nan"}, "finite"),
    ({"bbox": "13,52,14,51"}, "lower corner"), ({"bbox": "1,2,3,4", "bbox-crs": "EPSG:99999"}, "not offered"),
    ({"crs": "EPSG:2056"}, "not offered"), ({"datetime": "yesterday"}, "RFC 3339"), ({"colour": "red"}, "colour"),
    ({"f": "html"}, "GeoJSON"), ({"bbox-crs": "EPSG:4326"}, "needs a bbox"), ({"geometry": "x"}, "geometry"),
])
def test_bad_parameters_answer_400_with_a_precise_message(client: httpx.Client, params: dict[str, str],
                                                          fragment: str) -> None:
    response = client.get("/collections/berlin/items", params=params)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]
