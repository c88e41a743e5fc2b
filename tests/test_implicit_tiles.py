"""Implicit tiling: subtrees decode to the same tiles as the explicit form; content stays inside its cell."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson
import pytest

from ingest_gis.footprints import FootprintOptions, read_footprints
from ingest_gis.records import IngestResult
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs, decode_positions, schema_validator, tileset_validator
from tiles.encoding import Compression
from tiles.implicit import availability_bits, build_implicit_tileset, decode_subtree, encode_subtree, morton
from tiles.model import BuiltTileset
from tiles.tileset import TilingOptions, build_tileset, content_key

OPTIONS = TilingOptions(max_features_per_tile=60, class_name="building", compression=Compression.DRACO)


@pytest.fixture(scope="module")
def berlin() -> IngestResult:
    return read_footprints(shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson"), FootprintOptions("berlin"))


@pytest.fixture(scope="module")
def implicit(berlin: IngestResult) -> BuiltTileset:
    return build_implicit_tileset(berlin.features, replace(OPTIONS, subtree_levels=2))


def decode_available(built: BuiltTileset) -> tuple[set[tuple[int, int, int]], set[tuple[int, int, int]]]:
    """Walk the subtrees from the root as a client would: (available tiles, tiles with content)."""
    entries = {e.path: e.content for e in built.entries}
    implicit = orjson.loads(entries["tileset.json"])["root"]["implicitTiling"]
    levels, template = implicit["subtreeLevels"], implicit["subtrees"]["uri"]
    tiles: set[tuple[int, int, int]] = set()
    contents: set[tuple[int, int, int]] = set()
    pending = [(0, 0, 0)]
    while pending:
        level0, x0, y0 = pending.pop()
        document, binary = decode_subtree(entries[template.format(level=level0, x=x0, y=y0)])
        views = document.get("bufferViews", [])
        total = (4**levels - 1) // 3
        tile_bits = availability_bits(document["tileAvailability"], binary, views, total)
        content_bits = availability_bits(document["contentAvailability"][0], binary, views, total)
        child_bits = availability_bits(document["childSubtreeAvailability"], binary, views, 4**levels)
        for r in range(levels):
            for x in range(2**r):
                for y in range(2**r):
                    index = (4**r - 1) // 3 + morton(x, y)
                    key = (level0 + r, (x0 << r) + x, (y0 << r) + y)
                    if tile_bits[index]:
                        tiles.add(key)
                    if content_bits[index]:
                        contents.add(key)
        for x in range(2**levels):
            for y in range(2**levels):
                if child_bits[morton(x, y)]:
                    pending.append((level0 + levels, (x0 << levels) + x, (y0 << levels) + y))
    return tiles, contents


def test_morton_order_interleaves_x_in_the_even_bits() -> None:
    assert [morton(x, y) for y in range(2) for x in range(2)] == [0, 1, 2, 3]
    assert morton(3, 5) == 0b100111


def test_subtree_bitstreams_round_trip() -> None:
    tiles = [True, False, True, True, False]
    data = encode_subtree(tiles, [True] * 5, [False] * 16)
    document, binary = decode_subtree(data)
    assert len(data) % 8 == 0
    assert availability_bits(document["tileAvailability"], binary, document["bufferViews"], 5) == tiles
    assert document["contentAvailability"] == [{"constant": 1}]
    assert document["childSubtreeAvailability"] == {"constant": 0}
    assert not list(schema_validator("Subtree/subtree.schema.json").iter_errors(document))


def test_implicit_subtrees_decode_to_the_same_tiles_as_the_explicit_form(berlin: IngestResult,
                                                                       implicit: BuiltTileset) -> None:
    explicit = build_tileset(berlin.features, OPTIONS)
    available, with_content = decode_available(implicit)
    explicit_contents = {content_key(e.path): e.content for e in explicit.entries[1:]}
    assert with_content == set(explicit_contents)
    assert with_content <= available and (0, 0, 0) in available
    assert max(level for level, _, _ in available) >= 2  # deep enough to need child subtrees
    implicit_contents = {content_key(e.path): e.content for e in implicit.entries if e.path.endswith(".glb")}
    assert implicit_contents == explicit_contents  # the same bytes under both descriptions
    assert all(e.path == "content/{}/{}/{}.glb".format(*content_key(e.path))
               for e in implicit.entries if e.path.endswith(".glb"))
    document = orjson.loads(implicit.root.content)
    assert not [e.message for e in tileset_validator().iter_errors(document)]
    assert document["root"]["implicitTiling"]["availableLevels"] == max(lvl for lvl, _, _ in available) + 1


def test_every_feature_lies_inside_its_implicit_cell(implicit: BuiltTileset) -> None:
    document = orjson.loads(implicit.root.content)
    box = document["root"]["boundingVolume"]["box"]
    cx, cy, cz, hx, hy, hz = box[0], box[1], box[2], box[3], box[7], box[11]
    for entry in implicit.entries:
        if not entry.path.endswith(".glb"):
            continue
        level, x, y = (int(v) for v in entry.path.removesuffix(".glb").split("/")[1:])
        side_x, side_y = 2 * hx / 2**level, 2 * hy / 2**level
        west, south = cx - hx + x * side_x, cy - hy + y * side_y
        positions, _, _ = decode_positions(entry.content)
        east, north, up = positions[:, 0], -positions[:, 2], positions[:, 1]
        slack = 0.02  # Draco's 16-bit quantization of the tile
        assert east.min() >= west - slack and east.max() <= west + side_x + slack
        assert north.min() >= south - slack and north.max() <= south + side_y + slack
        assert up.min() >= cz - hz - slack and up.max() <= cz + hz + slack


def test_implicit_glbs_pass_the_gltf_validator(implicit: BuiltTileset) -> None:
    assert_valid_glbs({e.path: e.content for e in implicit.entries if e.path.endswith(".glb")})


def test_the_loose_quadtree_keeps_straddling_features_high(berlin: IngestResult) -> None:
    built = build_tileset(berlin.features, OPTIONS)
    levels = {e.level for e in built.entries[1:]}
    assert 0 in levels or 1 in levels  # features that cross a cell boundary stay up
    assert max(levels) >= 2
    assert max(len(e.feature_ids) for e in built.entries[1:] if e.level == max(levels)) <= OPTIONS.max_features_per_tile
    assert np.isclose(sum(len(e.feature_ids) for e in built.entries[1:]), len(berlin.features))
