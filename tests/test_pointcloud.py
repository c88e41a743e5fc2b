"""Point clouds: LAS/LAZ → placed pnts tiles in PostGIS, checked point by point against an independent reprojection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import laspy
import numpy as np
import pytest
from pyproj import CRS, Transformer
from sqlalchemy import Engine, text

from ingest_gis.las_crs import resolve_point_crs
from ingest_gis.pointcloud import PointCloudOptions
from ingest_gis.pointcloud_tiler import TilerJob, run_tiler
from ingest_gis.records import IngestError
from tests.conftest import serving
from tests.helpers.data import shared_data
from tests.helpers.gltf import tileset_validator
from tests.helpers.pointclouds import decode_point_tileset, nearest, write_copc, write_las
from twin import cli
from twin.db import Database
from twin.ingest import ingest_pointcloud
from twin.settings import Settings
from twin.tilestore import read_tile

AHN = "pointcloud/ahn3_cropped_2.laz"
AUTZEN = "pointcloud/autzen_trim.laz"
TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
TO_LONLAT = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


def _reference_ecef(path: Path, crs: CRS, z_to_metres: float) -> tuple[np.ndarray, laspy.LasData]:
    """Source points in ECEF by pyproj alone: map CRS → lon/lat, Z in metres taken as ellipsoidal height."""
    data = laspy.read(path)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(np.asarray(data.x),
                                                                                  np.asarray(data.y))
    x, y, z = TO_ECEF.transform(lon, lat, np.asarray(data.z) * z_to_metres)
    return np.c_[x, y, z], data


def _stored(engine: Engine, name: str) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    return decode_point_tileset(lambda path: read_tile(engine, None, name, path).content)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # type: ignore[return-value]
                     for t in ("datasets", "tilesets", "tiles"))


def _assert_matches(stored: np.ndarray, reference: np.ndarray, samples: int = 300) -> np.ndarray:
    """Every point kept once, and a sample of stored points each within 5 mm of a source point."""
    assert len(stored) == len(reference)
    assert np.allclose(stored.mean(axis=0), reference.mean(axis=0), atol=0.002)
    pick = np.random.default_rng(7).choice(len(stored), samples, replace=False)
    distance, index = nearest(stored[pick], reference)
    assert distance.max() < 0.005, distance.max()
    return np.c_[pick, index]


def test_ahn3_without_a_crs_in_its_header_fails_clearly_and_stores_nothing(
        settings: Settings, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["ingest", "pointcloud", str(shared_data(AHN)), "--name", "ahn", "--json"],
                    settings_factory=lambda: settings)
    out, err = capsys.readouterr()
    assert code == 2
    assert "no CRS in its header" in json.loads(out)["error"] and "--crs" in err
    assert _counts(engine) == (0, 0, 0)


def test_ahn3_with_crs_28992_lands_in_delft_with_every_point_and_class(engine: Engine) -> None:
    summary = ingest_pointcloud(engine, shared_data(AHN), PointCloudOptions("ahn", crs="28992"))
    assert summary["points"] == 208_432 and summary["objects"] == 0 and not summary["rgb"]
    assert summary["georef"]["crs"] == "EPSG:28992" and summary["georef"]["from"] == "--crs"
    assert summary["classes"] == {"1": 86_308, "2": 87_130, "6": 33_312, "9": 568, "26": 1_114}
    west, south, east, north = summary["extent"]
    assert 4.35 < west < east < 4.38 and 51.99 < south < north < 52.02

    reference, source = _reference_ecef(shared_data(AHN), CRS.from_epsg(28992), 1.0)
    stored, colours, properties = _stored(engine, "ahn")
    assert colours is None  # no RGB in the file, none in the tiles
    pairs = _assert_matches(stored, reference)
    classes = properties["classification"]
    assert np.array_equal(np.bincount(classes, minlength=27), np.bincount(source.classification, minlength=27))
    assert np.array_equal(classes[pairs[:, 0]], np.asarray(source.classification)[pairs[:, 1]])
    with engine.connect() as conn:
        kind, extent_ok = conn.execute(text(
            "SELECT d.kind, ST_Contains(d.extent, ST_SetSRID(ST_MakePoint(4.3681, 52.0117), 4326)) "
            "FROM datasets d WHERE d.id = 'ahn'")).one()
        types = dict(conn.execute(text("SELECT path, content_type FROM tiles WHERE tileset_id = 'ahn'")).all())
    assert kind == "pointcloud" and extent_ok
    assert types.pop("tileset.json") == "application/json"
    assert types and set(types.values()) == {"application/octet-stream"} and all(p.endswith(".pnts") for p in types)


def test_autzen_custom_wkt_in_feet_lands_in_oregon_with_its_colours(engine: Engine) -> None:
    summary = ingest_pointcloud(engine, shared_data(AUTZEN), PointCloudOptions("autzen"))
    georef = summary["georef"]
    assert georef["from"] == "header" and "custom WKT" in georef["crs"] and georef["z_to_metres"] == 0.3048
    assert summary["points"] == 110_000 and summary["rgb"] and summary["classes"] == {"1": 83_893, "2": 26_107}
    assert 123.8 < summary["zmin"] < summary["zmax"] < 158.7  # 406–520 ft

    header_crs = laspy.open(shared_data(AUTZEN)).header.parse_crs()
    reference, source = _reference_ecef(shared_data(AUTZEN), header_crs, 0.3048)
    stored, colours, _ = _stored(engine, "autzen")
    pairs = _assert_matches(stored, reference)
    lon, lat, _ = TO_LONLAT.transform(stored[:, 0], stored[:, 1], stored[:, 2])
    assert -123.08 < lon.min() < lon.max() < -123.06 and 44.04 < lat.min() < lat.max() < 44.06
    assert colours is not None and colours.max() > 200  # 8-bit values in the file's 16-bit fields, not black
    source_rgb = np.c_[source.red, source.green, source.blue]
    assert np.array_equal(colours[pairs[:, 0]], source_rgb[pairs[:, 1]])
    assert np.allclose(colours.mean(axis=0), source_rgb.mean(axis=0), atol=1e-6)


def test_a_served_point_cloud_answers_over_http_and_its_description_is_valid(settings: Settings,
                                                                                engine: Engine) -> None:
    ingest_pointcloud(engine, shared_data(AUTZEN), PointCloudOptions("autzen"))
    with serving(settings, Database(engine)) as base:
        listed = {t["id"]: t for t in httpx.get(f"{base}/tilesets").json()}
        assert listed["autzen"]["kind"] == "pointcloud"
        document = httpx.get(f"{base}/tilesets/autzen/tileset.json").json()
        tileset_validator().validate(document)
        assert document["asset"]["version"] == "1.0" and document["root"]["refine"] == "REPLACE"
        uri = document["root"]["children"][0]["content"]["uri"]
        reply = httpx.get(f"{base}/tilesets/autzen/{uri}")
        assert reply.status_code == 200 and reply.headers["content-type"] == "application/octet-stream"
        assert reply.content == read_tile(engine, None, "autzen", uri).content and reply.content[:4] == b"pnts"
        assert "created_date" not in json.dumps(document)


def test_crs_argument_wins_over_a_wrong_header(engine: Engine, tmp_path: Path) -> None:
    rd = np.array([[85_000.0, 447_500.0, 1.0], [85_050.0, 447_550.0, 12.5], [85_020.0, 447_600.0, 4.0]] * 200)
    rd += np.random.default_rng(1).uniform(0, 5, rd.shape)
    path = write_las(tmp_path / "wrong.las", rd, crs=CRS.from_epsg(4326))
    with pytest.raises(IngestError, match=r"not on the Earth.*--crs"):
        ingest_pointcloud(engine, path, PointCloudOptions("wrong"))
    summary = ingest_pointcloud(engine, path, PointCloudOptions("right", crs="EPSG:28992"))
    assert summary["georef"]["notes"] == ["header CRS EPSG:4326 replaced by --crs"]
    west, south, east, north = summary["extent"]
    assert 4.36 < west < east < 4.37 and 52.0 < south < north < 52.02


def test_heights_follow_the_vertical_unit_us_survey_feet_by_default_or_the_geokey_in_las_13_and_12(engine: Engine,
                                                                                  tmp_path: Path) -> None:
    california = CRS.from_epsg(2227)  # NAD83 / California zone 3 (ftUS)
    x, y = Transformer.from_crs("EPSG:4326", california, always_xy=True).transform(-122.27, 37.80)
    xyz = np.c_[x + np.arange(500) % 50, y + np.arange(500) // 10, np.full(500, 1000.0)]
    in_feet = write_las(tmp_path / "ftus.laz", xyz, crs=california, version="1.3")
    in_metres = write_las(tmp_path / "metres.las", xyz, crs=california, vertical_unit=9001)
    feet = ingest_pointcloud(engine, in_feet, PointCloudOptions("feet"))
    metres = ingest_pointcloud(engine, in_metres, PointCloudOptions("metres"))
    assert feet["georef"]["z_to_metres"] == pytest.approx(1200 / 3937)
    assert feet["zmin"] == pytest.approx(1000 * 1200 / 3937, abs=0.01)
    assert metres["zmin"] == pytest.approx(1000.0, abs=0.01)
    stored, _, _ = _stored(engine, "feet")
    lon, lat, h = TO_LONLAT.transform(stored[:, 0], stored[:, 1], stored[:, 2])
    assert abs(lon.min() + 122.27) < 0.001 and abs(lat.min() - 37.80) < 0.001
    assert np.allclose(h, 1000 * 1200 / 3937, atol=0.005)


def test_las_14_classes_above_31_and_a_wkt_header_are_kept(engine: Engine, tmp_path: Path) -> None:
    xyz = np.c_[np.linspace(85_000, 85_040, 900), np.linspace(447_500, 447_530, 900), np.full(900, 3.0)]
    classes = np.repeat(np.array([2, 6, 40], dtype=np.uint8), 300)
    rgb = np.repeat(np.array([[65_535, 0, 0], [0, 65_535, 0], [0, 0, 65_535]], dtype=np.uint16), 300, axis=0)
    path = write_las(tmp_path / "v14.laz", xyz, crs=CRS.from_epsg(28992), version="1.4", point_format=7,
                     classification=classes, rgb=rgb, scale=0.001)
    summary = ingest_pointcloud(engine, path, PointCloudOptions("v14"))
    assert summary["georef"]["crs"] == "EPSG:28992" and summary["classes"] == {"2": 300, "6": 300, "40": 300}
    _, colours, properties = _stored(engine, "v14")
    assert colours is not None and sorted(map(tuple, np.unique(colours, axis=0))) == [(0, 0, 255), (0, 255, 0),
                                                                                      (255, 0, 0)]
    assert np.bincount(properties["classification"]).tolist()[40] == 300


def test_a_copc_file_with_its_crs_in_an_extended_record_is_read_like_any_laz(engine: Engine, tmp_path: Path) -> None:
    rd = np.random.default_rng(2).uniform([85_000, 447_500, 0], [85_100, 447_600, 20], (2_000, 3))
    path = write_copc(tmp_path / "cloud.copc.laz", rd, CRS.from_epsg(28992), classification=6, rgb=(65_535, 0, 0))
    assert laspy.CopcReader.open(path).header.point_count == 2_000
    summary = ingest_pointcloud(engine, path, PointCloudOptions("copc"))
    assert summary["georef"]["crs"] == "EPSG:28992" and summary["classes"] == {"6": 2_000}
    lon, lat = Transformer.from_crs(28992, 4326, always_xy=True).transform(rd[:, 0], rd[:, 1])
    reference = np.c_[TO_ECEF.transform(lon, lat, rd[:, 2])]
    stored, colours, _ = _stored(engine, "copc")
    _assert_matches(stored, reference, samples=100)
    assert colours is not None and np.all(colours == [255, 0, 0])


@pytest.mark.parametrize("lonlat", [(4.0, 120.0), (200.0, 10.0)])
def test_las_with_impossible_coordinates_is_refused_and_leaves_nothing(engine: Engine, tmp_path: Path,
                                                                       lonlat: tuple[float, float]) -> None:
    xyz = np.array([[4.0, 52.0, 1.0]] * 100 + [[*lonlat, 1.0]])
    path = write_las(tmp_path / "impossible.las", xyz, crs=CRS.from_epsg(4326), scale=1e-7)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(IngestError, match="is not on the Earth"):
        ingest_pointcloud(engine, path, PointCloudOptions("impossible"), work_dir=work)
    assert _counts(engine) == (0, 0, 0) and not any(work.iterdir())


def test_absurd_heights_are_refused(engine: Engine, tmp_path: Path) -> None:
    xyz = np.array([[85_000.0, 447_500.0, 1.0], [85_001.0, 447_500.0, 5e6]])
    path = write_las(tmp_path / "tall.las", xyz, crs=CRS.from_epsg(28992))
    with pytest.raises(IngestError, match="height 5000000.0 m"):
        ingest_pointcloud(engine, path, PointCloudOptions("tall"))


def test_empty_truncated_and_corrupt_files_are_refused_and_leave_nothing(engine: Engine, tmp_path: Path) -> None:
    empty = write_las(tmp_path / "empty.las", np.zeros((0, 3)), crs=CRS.from_epsg(28992))
    with pytest.raises(IngestError, match="holds no points"):
        ingest_pointcloud(engine, empty, PointCloudOptions("empty"))
    junk = tmp_path / "junk.laz"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(IngestError, match="not a readable LAS/LAZ file"):
        ingest_pointcloud(engine, junk, PointCloudOptions("junk"))
    data = shared_data(AUTZEN).read_bytes()
    cut = tmp_path / "cut.laz"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(IngestError, match="cut.laz"):
        ingest_pointcloud(engine, cut, PointCloudOptions("cut"))
    with pytest.raises(IngestError, match="no such file"):
        ingest_pointcloud(engine, tmp_path / "missing.laz", PointCloudOptions("missing"))
    assert _counts(engine) == (0, 0, 0)


def test_a_stalled_tiler_is_stopped_at_its_time_limit_with_its_workers(tmp_path: Path) -> None:
    xyz = np.random.default_rng(3).uniform(0, 100, (300_000, 3))
    las = write_las(tmp_path / "many.las", xyz)
    out = tmp_path / "out"
    with pytest.raises(IngestError, match="longer than 1 s"):
        run_tiler(TilerJob(str(las), str(out), rgb=False), timeout_s=1.0)
    survivors = []
    for proc in Path("/proc").iterdir():
        try:
            if str(out).encode() in (proc / "cmdline").read_bytes():
                survivors.append(proc.name)
        except OSError:
            continue
    assert survivors == []


def test_the_header_crs_reader_explains_unreadable_records(tmp_path: Path) -> None:
    path = write_las(tmp_path / "custom.las", np.zeros((1, 3)), crs=CRS.from_epsg(2227))
    header = laspy.open(path).header
    crs = resolve_point_crs(header, None)
    assert crs.label == "EPSG:2227" and crs.source == "header"
    directory = header.vlrs[0]
    directory.geo_keys = [k for k in directory.geo_keys if k.id != 3072]  # drop ProjectedCSTypeGeoKey
    with pytest.raises(IngestError, match="CRS records cannot be read"):
        resolve_point_crs(header, None)
    assert resolve_point_crs(header, "2227").source == "--crs"
    with pytest.raises(IngestError, match="not a coordinate reference system"):
        resolve_point_crs(header, "EPSG:999999")


def test_point_clouds_uploaded_over_http_become_datasets_or_fail_with_the_reason(settings: Settings,
                                                                                  engine: Engine) -> None:
    import time

    def finished(client: httpx.Client, url: str) -> dict[str, object]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job: dict[str, object] = client.get(url).json()
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {url} did not finish")

    ahn = shared_data(AHN).read_bytes()
    with serving(settings, Database(engine)) as base, httpx.Client(base_url=base, timeout=60) as client:
        refused = finished(client, client.post("/ingest/pointcloud", content=ahn,
                                               params={"name": "ahn", "filename": "ahn.laz"}).json()["url"])
        assert refused["status"] == "failed" and "no CRS in its header" in str(refused["error"])
        assert _counts(engine) == (0, 0, 0)
        job = finished(client, client.post("/ingest/pointcloud", content=ahn,
                                           params={"name": "ahn", "filename": "ahn.laz", "crs": "28992"}).json()["url"])
        assert job["status"] == "succeeded", job
        assert job["summary"]["points"] == 208_432 and job["done"] == job["total"]  # type: ignore[index]
        assert client.get("/tilesets/ahn/tileset.json").status_code == 200
