"""The HTTP API over a real PostGIS: health, tilesets, tile caching, objects and the viewer config."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest

from tests.conftest import LiveCity


@pytest.fixture(scope="module")
def client(live_city: LiveCity) -> httpx.Client:
    return httpx.Client(base_url=live_city.base_url, timeout=30)


def test_health_reports_the_database(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["database"]["postgis"].startswith("3.")


def test_tilesets_are_listed_with_urls(client: httpx.Client, live_city: LiveCity) -> None:
    (tileset,) = client.get("/tilesets").json()
    assert tileset["id"] == live_city.tileset_id and tileset["name"] == "berlin"
    assert tileset["kind"] == "footprints" and tileset["url"] == f"/tilesets/{live_city.tileset_id}/tileset.json"


def test_tileset_json_is_gzipped_cached_and_revalidated(client: httpx.Client, live_city: LiveCity) -> None:
    url = f"/tilesets/{live_city.tileset_id}/tileset.json"
    raw = client.get(url, headers={"Accept-Encoding": "gzip"}, extensions={})
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["content-encoding"] == "gzip"
    assert "must-revalidate" in raw.headers["cache-control"]
    document = orjson.loads(raw.content)  # httpx decodes gzip transparently
    assert document["asset"]["version"] == "1.1"
    etag = raw.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["etag"] != etag
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


def test_content_files_have_glb_type_strong_etag_and_cors(client: httpx.Client, live_city: LiveCity) -> None:
    document = client.get(f"/tilesets/{live_city.tileset_id}/tileset.json").json()
    uri = _first_content(document["root"])
    response = client.get(f"/tilesets/{live_city.tileset_id}/{uri}", headers={"Origin": "http://example.org"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "model/gltf-binary"
    assert response.content[:4] == b"glTF"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "immutable" in response.headers["cache-control"]  # the file name carries its content hash
    cached = client.get(f"/tilesets/{live_city.tileset_id}/{uri}", headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304
    head = client.head(f"/tilesets/{live_city.tileset_id}/{uri}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == response.headers["etag"]
    assert int(head.headers["content-length"]) == len(response.content)


def _first_content(tile: dict) -> str:  # type: ignore[type-arg]
    if "content" in tile:
        return str(tile["content"]["uri"])  # content/{level}/{x}/{y}-{sha256 prefix}.glb
    return _first_content(tile["children"][0])


@pytest.mark.parametrize("path,status", [("content/nope.glb", 404), ("../other/tileset.json", 400),
                                         ("content/..%2F..%2Fetc", 400), ("a%00b", 400)])
def test_tile_paths_cannot_escape_or_find_missing_files(client: httpx.Client, live_city: LiveCity, path: str,
                                                        status: int) -> None:
    response = client.get(f"/tilesets/{live_city.tileset_id}/{path}")
    assert response.status_code in (status, 404)
    assert response.status_code != 500


def test_unknown_tileset_is_404(client: httpx.Client) -> None:
    response = client.get("/tilesets/missing/tileset.json")
    assert response.status_code == 404 and "missing" in response.json()["detail"]


def test_objects_come_with_geojson_and_all_attributes(client: httpx.Client) -> None:
    body = client.get("/objects/berlin.23077868").json()
    assert body["id"] == "berlin.23077868" and body["dataset_id"] == "berlin" and body["kind"] == "building"
    assert body["geometry"]["type"] == "Polygon"
    assert body["attributes"] == {"id": "23077868", "type": "commercial"}
    assert body["zmin"] == 0 and body["zmax"] == 9.0
    assert client.get("/objects/berlin.nothing").status_code == 404


def test_viewer_config_names_every_url(client: httpx.Client) -> None:
    config = client.get("/viewer/config.json").json()
    assert config["tilesets_url"] == "/tilesets"
    assert config["object_url_template"] == "/objects/{id}"
    assert client.get(config["imagery_url"] + "/tilemapresource.xml").status_code == 200


def test_the_viewer_page_and_cesium_are_served(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.head("/").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "CityTwin"


def test_request_bodies_over_the_limit_get_413_and_the_server_keeps_serving(client: httpx.Client) -> None:
    polygon = {"type": "Polygon", "coordinates": [[[13.41, 52.53], [13.42, 52.53], [13.42, 52.54], [13.41, 52.53]]]}
    assert client.post("/query/within", json=polygon).status_code == 200
    declared = client.post("/query/within", content=b"{" + b" " * (11 * 2**20) + b"}",
                           headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "larger than" in declared.json()["detail"]

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"type": "Polygon", "coordinates": ['
        for _ in range(12):
            yield b" " * 2**20

    streamed = client.post("/query/within", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.get("/health").status_code == 200
