"""Checks on written tiles: the Khronos glTF-Validator, GLB decoding and the official 3D Tiles schemas."""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import DracoPy
import numpy as np
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.helpers.data import SHARED
from tiles.glb import unpack_glb

VALIDATE = Path(__file__).with_name("validate_gltf.cjs")
SCHEMAS = SHARED / "schemas" / "3d-tiles" / "specification" / "schema"


def gltf_validation(glbs: dict[str, bytes]) -> list[dict[str, Any]]:
    """Run every GLB through the Khronos validator; one report per file."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (name, data) in enumerate(sorted(glbs.items())):
            path = Path(tmp) / f"{i}-{Path(name).name}"
            path.write_bytes(data)
            paths.append(str(path))
        out = subprocess.run(["node", str(VALIDATE), *paths], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def assert_valid_glbs(glbs: dict[str, bytes]) -> None:
    reports = gltf_validation(glbs)
    assert len(reports) == len(glbs)
    bad = [r for r in reports if r["numErrors"]]
    assert not bad, bad[:3]


def tileset_validator() -> Draft202012Validator:
    """A validator for tileset.json built from the official 3D Tiles 1.1 schemas."""
    return schema_validator("tileset.schema.json")


@cache
def schema_validator(schema: str) -> Draft202012Validator:
    """A validator for any official 3D Tiles 1.1 schema, e.g. `Subtree/subtree.schema.json`."""
    if not SCHEMAS.exists():
        raise FileNotFoundError(SCHEMAS)
    resources = []
    for path in SCHEMAS.rglob("*.schema.json"):
        contents = json.loads(path.read_text())
        resource = Resource.from_contents(contents)
        resources.append((path.relative_to(SCHEMAS).as_posix(), resource))
        resources.append((path.name, resource))
        if "$id" in contents:
            resources.append((contents["$id"], resource))
    registry = Registry().with_resources(resources)
    return Draft202012Validator({"$ref": schema}, registry=registry)


def decode_positions(glb: bytes) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Vertex positions (y-up, node transform applied) and feature ids of a tile's first primitive.

    Reads plain, `KHR_mesh_quantization` and `KHR_draco_mesh_compression` content.
    """
    gltf, binary = unpack_glb(glb)
    primitive = gltf["meshes"][0]["primitives"][0]  # type: ignore[index]
    node = gltf["nodes"][0]  # type: ignore[index]
    translation = np.array(node.get("translation", [0, 0, 0]))
    scale = np.array(node.get("scale", [1, 1, 1]))
    draco = primitive.get("extensions", {}).get("KHR_draco_mesh_compression")
    if draco:
        view = gltf["bufferViews"][draco["bufferView"]]  # type: ignore[index]
        start = view.get("byteOffset", 0)
        mesh = DracoPy.decode(binary[start : start + view["byteLength"]])
        by_id = {a["unique_id"]: a["data"] for a in mesh.attributes}
        positions = np.asarray(by_id[draco["attributes"]["POSITION"]], dtype=np.float64)
        feature_ids = np.asarray(by_id[draco["attributes"]["_FEATURE_ID_0"]]).reshape(-1)
        return positions * scale + translation, feature_ids, gltf

    def accessor(index: int) -> np.ndarray:
        acc = gltf["accessors"][index]  # type: ignore[index]
        view = gltf["bufferViews"][acc["bufferView"]]  # type: ignore[index]
        dtype = np.dtype({5126: "<f4", 5123: "<u2", 5125: "<u4", 5120: "<i1"}[acc["componentType"]])
        width = {"SCALAR": 1, "VEC3": 3}[acc["type"]]
        stride = view.get("byteStride", dtype.itemsize * width)
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        raw = np.frombuffer(binary, dtype=np.uint8, count=stride * acc["count"], offset=start)
        data = raw.reshape(acc["count"], stride)[:, : dtype.itemsize * width].copy().view(dtype)
        return data.reshape(acc["count"], width) if width > 1 else data.reshape(-1)

    positions = accessor(primitive["attributes"]["POSITION"]).astype(np.float64) * scale + translation
    return positions, accessor(primitive["attributes"]["_FEATURE_ID_0"]), gltf


def property_strings(glb: bytes, name: str) -> list[str]:
    """Decode a STRING property column of the tile's property table."""
    gltf, binary = unpack_glb(glb)
    table = gltf["extensions"]["EXT_structural_metadata"]["propertyTables"][0]  # type: ignore[index]
    prop = table["properties"][name]
    views = gltf["bufferViews"]  # type: ignore[index]
    values_view, offsets_view = views[prop["values"]], views[prop["stringOffsets"]]
    offsets = np.frombuffer(binary, "<u4", table["count"] + 1, offsets_view.get("byteOffset", 0))
    base = values_view.get("byteOffset", 0)
    return [binary[base + a : base + b].decode() for a, b in itertools.pairwise(offsets)]
