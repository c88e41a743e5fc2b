"""Point cloud test helpers: author LAS files with laspy, decode 3D Tiles 1.0 `pnts` tiles back to ECEF points."""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import laspy
import numpy as np
from laspy.vlrs import geotiff
from pyproj import CRS


def write_las(path: Path, xyz: np.ndarray, *, crs: CRS | None = None, version: str = "1.2", point_format: int = 3,
              rgb: np.ndarray | None = None, classification: np.ndarray | None = None,
              vertical_unit: int | None = None, scale: float = 0.01) -> Path:
    """A LAS/LAZ file (by suffix) of the given points; `vertical_unit` adds a GeoTIFF VerticalUnitsGeoKey."""
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.scales = np.array([scale] * 3)
    header.offsets = np.floor(xyz.min(axis=0)) if len(xyz) else np.zeros(3)
    if crs is not None:
        header.add_crs(crs)
    if vertical_unit is not None:
        directory = next(v for v in header.vlrs if isinstance(v, geotiff.GeoKeyDirectoryVlr))
        key = copy.copy(directory.geo_keys[0])
        key.id, key.tiff_tag_location, key.count, key.value_offset = 4099, 0, 1, vertical_unit
        directory.geo_keys.append(key)
        directory.geo_keys_header.number_of_keys = len(directory.geo_keys)
    points = laspy.LasData(header)
    points.x, points.y, points.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if classification is not None:
        points.classification = classification
    if rgb is not None:
        points.red, points.green, points.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    points.write(path)
    return path


def _matrix(values: list[float] | None) -> np.ndarray:
    return np.eye(4) if values is None else np.asarray(values, dtype=np.float64).reshape(4, 4).T


def content_transforms(document: dict[str, Any], refined: bool = False) -> dict[str, np.ndarray]:
    """Content URI → accumulated tile transform (tile frame → ECEF) of an explicit tileset.

    `refined`: only the contents shown when every tile is refined (a REPLACE tile's content gives way to its
    children's; an ADD tile's stays).
    """
    found: dict[str, np.ndarray] = {}
    stack = [(document["root"], np.eye(4), "REPLACE")]
    while stack:
        tile, above, inherited = stack.pop()
        here = above @ _matrix(tile.get("transform"))
        refine = tile.get("refine", inherited)
        replaced = refined and refine == "REPLACE" and bool(tile.get("children"))
        if "content" in tile and not replaced:
            found[tile["content"]["uri"]] = here
        stack.extend((child, here, refine) for child in tile.get("children", []))
    return found


def decode_pnts(data: bytes) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """(positions in the tile frame (N, 3), RGB (N, 3) uint8 or None, batch table properties) of a pnts tile."""
    magic, _, _, ft_json, ft_bin, bt_json, bt_bin = struct.unpack_from("<4sIIIIII", data)
    assert magic == b"pnts"
    feature = json.loads(data[28:28 + ft_json])
    body = data[28 + ft_json:28 + ft_json + ft_bin]
    n = feature["POINTS_LENGTH"]
    if "POSITION" in feature:
        positions = np.frombuffer(body, np.float32, n * 3, feature["POSITION"]["byteOffset"]).reshape(n, 3)
        positions = positions.astype(np.float64)
    else:
        quantized = np.frombuffer(body, np.uint16, n * 3, feature["POSITION_QUANTIZED"]["byteOffset"])
        scale = np.asarray(feature["QUANTIZED_VOLUME_SCALE"]) / 65535.0
        positions = quantized.reshape(n, 3) * scale + np.asarray(feature["QUANTIZED_VOLUME_OFFSET"])
    if "RTC_CENTER" in feature:
        positions = positions + np.asarray(feature["RTC_CENTER"])
    rgb = (np.frombuffer(body, np.uint8, n * 3, feature["RGB"]["byteOffset"]).reshape(n, 3)
           if "RGB" in feature else None)
    properties: dict[str, np.ndarray] = {}
    if bt_json:
        batch = json.loads(data[28 + ft_json + ft_bin:28 + ft_json + ft_bin + bt_json])
        binary = data[28 + ft_json + ft_bin + bt_json:28 + ft_json + ft_bin + bt_json + bt_bin]
        types = {"UNSIGNED_BYTE": np.uint8, "UNSIGNED_SHORT": np.uint16, "UNSIGNED_INT": np.uint32,
                 "FLOAT": np.float32, "DOUBLE": np.float64}
        for name, spec in batch.items():
            properties[name] = np.frombuffer(binary, types[spec["componentType"]], n, spec["byteOffset"])
    return positions, rgb, properties


def decode_point_tileset(read: Callable[[str], bytes]) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """Every point of a fully refined pnts tileset in ECEF with colours and properties; `read(path)` gives an
    entry's bytes."""
    document = json.loads(read("tileset.json"))
    positions, colours, properties = [], [], {}
    for uri, transform in content_transforms(document, refined=True).items():
        local, rgb, props = decode_pnts(read(uri))
        positions.append(np.c_[local, np.ones(len(local))] @ transform.T[:, :3])
        if rgb is not None:
            colours.append(rgb)
        for name, values in props.items():
            properties.setdefault(name, []).append(values)
    return (np.concatenate(positions), np.concatenate(colours) if colours else None,
            {k: np.concatenate(v) for k, v in properties.items()})


def nearest(points: np.ndarray, reference: np.ndarray, chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each point's nearest reference point, by brute force."""
    distances, indices = [], []
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        d2 = ((block[:, None, :] - reference[None, :, :]) ** 2).sum(axis=2)
        index = d2.argmin(axis=1)
        indices.append(index)
        distances.append(np.sqrt(d2[np.arange(len(block)), index]))
    return np.concatenate(distances), np.concatenate(indices)


def write_copc(path: Path, xyz: np.ndarray, crs: CRS, classification: int, rgb: tuple[int, int, int]) -> Path:
    """A COPC file (LAZ 1.4, point format 7, CRS as WKT) written by copc-lib: the points split over two nodes."""
    import copclib as copc

    config = copc.CopcConfigWriter(7, copc.Vector3(0.001, 0.001, 0.001), copc.Vector3(*np.floor(xyz.min(axis=0))),
                                   crs.to_wkt())
    writer = copc.FileWriter(str(path), config)
    header = writer.copc_config.las_header
    header.min, header.max = copc.Vector3(*xyz.min(axis=0)), copc.Vector3(*xyz.max(axis=0))
    half = len(xyz) // 2
    for key, block in ((copc.VoxelKey(0, 0, 0, 0), xyz[:half]), (copc.VoxelKey(1, 0, 0, 0), xyz[half:])):
        points = copc.Points(header)
        for x, y, z in block:
            point = points.CreatePoint()
            point.x, point.y, point.z = float(x), float(y), float(z)
            point.classification = classification
            point.red, point.green, point.blue = rgb
            points.AddPoint(point)
        writer.AddNode(key, points)
    writer.Close()
    return path
