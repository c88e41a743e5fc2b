"""Existing 3D Tiles tilesets imported as they are: every referenced file, unchanged, served under its path."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine, text

from ingest_gis.footprints import FootprintOptions
from ingest_gis.records import IngestError
from tests.conftest import serving
from tests.helpers.data import shared_data
from tiles.geodesy import EnuFrame
from twin import cli
from twin.db import Database
from twin.ingest import ingest_footprints, ingest_tileset
from twin.repository import export_tileset
from twin.settings import Settings

MARS = "mesh/landform_mars_3dtiles"
ORIGIN = (-117.2, 34.2, 400.0)
DELFT_REGION = [math.radians(4.36), math.radians(52.0), math.radians(4.37), math.radians(52.01), 0.0, 30.0]


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # type: ignore[return-value]
                     for t in ("datasets", "tilesets", "tiles"))


def _stored(engine: Engine, name: str) -> dict[str, tuple[bytes, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, content, content_type FROM tiles WHERE tileset_id = :t"),
                            {"t": name}).all()
    return {r.path: (bytes(r.content), r.content_type) for r in rows}


def _padded(data: bytes, pad: bytes = b" ") -> bytes:
    return data + pad * (-len(data) % 8)


def _glb(document: dict[str, Any]) -> bytes:
    chunk = _padded(json.dumps(document).encode())
    return struct.pack("<4sII", b"glTF", 2, 20 + len(chunk)) + struct.pack("<I4s", len(chunk), b"JSON") + chunk


def _wrapped(magic: bytes, feature: dict[str, Any], body: bytes, gltf_format: int | None = None) -> bytes:
    """A 1.0 tile (b3dm/i3dm/pnts) with a JSON feature table and `body` after the tables."""
    table = _padded(json.dumps(feature).encode())
    header = 32 if gltf_format is not None else 28
    fields = [magic, 1, header + len(table) + len(body), len(table), 0, 0, 0]
    packed = struct.pack("<4sIIIIII", *fields) + (struct.pack("<I", gltf_format) if gltf_format is not None else b"")
    return packed + table + body


def _pnts() -> bytes:
    return _wrapped(b"pnts", {"POINTS_LENGTH": 1, "POSITION": {"byteOffset": 0}}, bytes(16))


def _tileset(root: dict[str, Any]) -> bytes:
    return json.dumps({"asset": {"version": "1.1"}, "geometricError": 100, "root": root}).encode()


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return folder


def _tile(uri: str, **extra: Any) -> dict[str, Any]:
    return {"boundingVolume": {"region": DELFT_REGION}, "geometricError": 0, "content": {"uri": uri}, **extra}


def test_landform_imports_all_293_contents_unchanged_placed_at_the_origin_and_serves_them(
        settings: Settings, engine: Engine) -> None:
    folder = shared_data(MARS)
    summary = ingest_tileset(engine, folder, "mars", origin=ORIGIN)
    assert summary["tiles"] == 293 and summary["files"] == 294 and summary["placed_by"] == "origin"
    west, south, east, north = summary["extent"]
    assert -117.21 < west < east < -117.19 and 34.19 < south < north < 34.21
    source = json.loads((folder / "tileset.json").read_bytes())
    with engine.connect() as conn:
        kind, levels = conn.execute(text("SELECT d.kind, (SELECT max(level) FROM tiles WHERE tileset_id = 'mars') "
                                         "FROM datasets d WHERE id = 'mars'")).one()
    assert kind == "tileset" and levels == 4
    with serving(settings, Database(engine)) as base, httpx.Client(base_url=base) as client:
        document = client.get("/tilesets/mars/tileset.json").json()  # as is: its empty `children` stay
        assert document["root"].pop("transform") == pytest.approx(EnuFrame(*ORIGIN).transform_matrix())
        source["root"].pop("transform")
        assert document == source
        served = 0
        for path in sorted(folder.glob("*.b3dm")):
            reply = client.get(f"/tilesets/mars/{path.name}")
            assert reply.status_code == 200 and reply.headers["content-type"] == "application/octet-stream"
            assert reply.content == path.read_bytes(), path.name
            served += 1
    assert served == 293


def test_an_unplaced_tileset_needs_an_origin_and_a_placed_one_refuses_it(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"not placed on the Earth.*--origin"):
        ingest_tileset(engine, shared_data(MARS), "mars")
    placed = _write(tmp_path / "placed", {"tileset.json": _tileset(_tile("a.pnts")), "a.pnts": _pnts()})
    with pytest.raises(IngestError, match="already georeferenced"):
        ingest_tileset(engine, placed, "placed", origin=ORIGIN)
    with pytest.raises(IngestError, match="not a place on the Earth"):
        ingest_tileset(engine, shared_data(MARS), "mars", origin=(10.0, 95.0, 0.0))
    assert _counts(engine) == (0, 0, 0)
    assert ingest_tileset(engine, placed / "tileset.json", "placed")["placed_by"] == "tileset"


def test_external_tilesets_gltf_resources_i3dm_urls_and_cmpt_tiles_are_all_followed(engine: Engine,
                                                                                    tmp_path: Path) -> None:
    tree = _glb({"asset": {"version": "2.0"}, "images": [{"uri": "../tex/bark%20dark.png"}]})
    embedded = _glb({"asset": {"version": "2.0"}, "images": [{"uri": "tex/roof.png"}]})
    files = {
        "tileset.json": _tileset({**_tile("sub/tileset.json"), "children": [
            _tile("models/house.gltf"), _tile("inst.i3dm"), _tile("both.cmpt"),
            {"boundingVolume": {"region": DELFT_REGION}, "geometricError": 0,
             "contents": [{"uri": "./multi/a.glb"}, {"uri": "multi/a.glb"}]}]}),
        "sub/tileset.json": _tileset(_tile("a.b3dm")),
        "sub/a.b3dm": _wrapped(b"b3dm", {"BATCH_LENGTH": 0}, _glb({"asset": {"version": "2.0"}})),
        "models/house.gltf": json.dumps({"asset": {"version": "2.0"}, "buffers": [{"uri": "house.bin"}],
                                         "images": [{"uri": "../tex/wall.png"}, {"uri": "data:image/png;base64,AA"}]
                                         }).encode(),
        "models/house.bin": b"\0" * 16,
        "models/tree.glb": tree,
        "inst.i3dm": _wrapped(b"i3dm", {"INSTANCES_LENGTH": 0}, b"models/tree.glb", gltf_format=0),
        "both.cmpt": b"",
        "multi/a.glb": _glb({"asset": {"version": "2.0"}}),
        "tex/wall.png": b"wall", "tex/bark dark.png": b"bark", "tex/roof.png": b"roof", "unreferenced.b3dm": b"x",
    }
    inner = [_pnts(), _wrapped(b"b3dm", {"BATCH_LENGTH": 0}, embedded)]
    files["both.cmpt"] = struct.pack("<4sIII", b"cmpt", 1, 16 + sum(map(len, inner)), 2) + b"".join(inner)
    folder = _write(tmp_path / "set", files)
    with pytest.raises(IngestError, match="only serves paths"):  # a space in a file name cannot be served
        ingest_tileset(engine, folder, "nested")
    files["models/tree.glb"] = _glb({"asset": {"version": "2.0"}, "images": [{"uri": "../tex/bark.png"}]})
    files["tex/bark.png"] = files.pop("tex/bark dark.png")
    (folder / "tex" / "bark dark.png").unlink()
    folder = _write(folder, files)
    summary = ingest_tileset(engine, folder, "nested")
    stored = _stored(engine, "nested")
    assert set(stored) == set(files) - {"unreferenced.b3dm"}
    assert all(stored[p][0] == files[p] for p in stored)
    assert summary["tiles"] == 5  # sub/a.b3dm, house.gltf, inst.i3dm, both.cmpt, multi/a.glb
    assert {p: t for p, (_, t) in stored.items() if not p.startswith("tex/")} == {
        "tileset.json": "application/json", "sub/tileset.json": "application/json",
        "sub/a.b3dm": "application/octet-stream", "models/house.gltf": "model/gltf+json",
        "models/house.bin": "application/octet-stream", "models/tree.glb": "model/gltf-binary",
        "inst.i3dm": "application/octet-stream", "both.cmpt": "application/octet-stream",
        "multi/a.glb": "model/gltf-binary"}


@pytest.mark.parametrize("uri", ["../outside.b3dm", "/etc/passwd", "https://example.org/a.b3dm",
                                 "a/../../outside.b3dm", "missing.b3dm"])
def test_uris_outside_the_folder_or_to_missing_files_are_refused_and_leave_nothing(
        engine: Engine, tmp_path: Path, uri: str) -> None:
    (tmp_path / "outside.b3dm").write_bytes(b"b3dm")
    folder = _write(tmp_path / "set", {"tileset.json": _tileset({**_tile("a.pnts"), "children": [_tile(uri)]}),
                                       "a.pnts": _pnts()})
    expected = "missing from" if uri == "missing.b3dm" else "tileset folder"
    with pytest.raises(IngestError, match=expected):
        ingest_tileset(engine, folder, "bad")
    assert _counts(engine) == (0, 0, 0)


def test_a_symlink_out_of_the_folder_and_broken_json_are_refused(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "secret.pnts").write_bytes(_pnts())
    folder = _write(tmp_path / "set", {"tileset.json": _tileset(_tile("link.pnts"))})
    (folder / "link.pnts").symlink_to(tmp_path / "secret.pnts")
    with pytest.raises(IngestError, match="outside the tileset folder"):
        ingest_tileset(engine, folder, "link")
    (folder / "tileset.json").write_text("{not json")
    with pytest.raises(IngestError, match="not valid JSON"):
        ingest_tileset(engine, folder, "broken")
    with pytest.raises(IngestError, match="no tileset at"):
        ingest_tileset(engine, tmp_path / "nowhere", "none")


def test_an_implicit_tileset_imports_its_subtrees_and_every_available_content(engine: Engine,
                                                                             tmp_path: Path) -> None:
    berlin = shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson")
    original = ingest_footprints(engine, berlin, FootprintOptions("berlin"), max_features_per_tile=40,
                                 implicit=True)
    export_tileset(engine, "berlin", tmp_path / "export")
    (tmp_path / "export" / "stray.glb").write_bytes(b"not referenced")
    summary = ingest_tileset(engine, tmp_path / "export", "copy")
    assert summary["tiles"] == original["tiles"] > 4
    copy, source = _stored(engine, "copy"), _stored(engine, "berlin")
    assert copy == source
    assert any(p.endswith(".subtree") for p in copy)
    with engine.connect() as conn:
        uncovered = conn.execute(text(
            "SELECT c.path FROM tiles c JOIN tiles o ON o.tileset_id = 'berlin' AND o.path = c.path "
            "WHERE c.tileset_id = 'copy' AND c.path LIKE 'content/%' "
            "AND NOT ST_Covers(ST_Buffer(c.bounds, 1e-7), o.bounds)")).all()
        levels = dict(conn.execute(text("SELECT path, level FROM tiles WHERE tileset_id = 'copy' "
                                        "AND path LIKE 'content/%'")).all())
    assert uncovered == []  # each implicit tile's volume, cut from the root box, holds its content
    assert all(level == int(path.split("/")[1]) for path, level in levels.items())


def test_cli_imports_a_tileset_with_an_origin_and_reports_errors_with_exit_code_2(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(shared_data(MARS))
    code = cli.main(["ingest", "tileset", folder, "--name", "mars", "--json"], settings_factory=lambda: settings)
    out, _ = capsys.readouterr()
    assert code == 2 and "--origin" in json.loads(out)["error"]
    code = cli.main(["ingest", "tileset", folder, "--name", "mars", "--origin=-117.2,34.2,400", "--json"],
                    settings_factory=lambda: settings)
    out, _ = capsys.readouterr()
    summary = json.loads(out)
    assert code == 0 and summary["tiles"] == 293 and summary["origin"] == list(ORIGIN)
    export = settings.data_dir / "export"
    code = cli.main(["tiles", "export", "mars", str(export)], settings_factory=lambda: settings)
    assert code == 0
    for path in Path(folder).glob("*.b3dm"):
        assert (export / path.name).read_bytes() == path.read_bytes()
    exported = json.loads((export / "tileset.json").read_bytes())
    assert np.allclose(exported["root"]["transform"], EnuFrame(*ORIGIN).transform_matrix())
