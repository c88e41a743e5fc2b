"""Every file a 3D Tiles tileset references, found by walking it from its `tileset.json`.

Explicit trees, external `tileset.json` files, implicit tiling (subtree files, binary or JSON, with their
availability bitstreams) and the resources contents name themselves (glTF buffers and images, an i3dm's glTF
URL, the inner tiles of a cmpt) are followed. URIs resolve against the file that holds them; a URI that leaves the
tileset's folder, is absolute or names a missing file is refused. Each tile that has content is reported with its
level, geometric error and bounding volume under the accumulated transform (column-major 4×4, ECEF when placed).
"""

from __future__ import annotations

import json
import posixpath
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
from numpy.typing import NDArray

from ingest_gis.records import IngestError

Matrix = NDArray[np.float64]
CONTENT, TILESET, SUBTREE, RESOURCE = "content", "tileset", "subtree", "resource"
MAX_IMPLICIT_LEVELS = 30


@dataclass(frozen=True)
class TileRecord:
    """A tile with content: its level, geometric error, bounding volume and the transform it sits under."""

    content_paths: tuple[str, ...]
    level: int
    geometric_error: float
    volume: dict[str, Any]
    transform: Matrix


@dataclass
class WalkedTileset:
    """The files of a tileset by relative path (`tileset.json` first) with their roles, and its content tiles."""

    root: Path
    files: dict[str, str] = field(default_factory=dict)
    tiles: list[TileRecord] = field(default_factory=list)

    def add(self, path: str, role: str) -> bool:
        """Record a file; False when it was already known."""
        if path in self.files:
            return False
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root):
            raise IngestError(f"{path!r} leads outside the tileset folder (through a link)")
        if not target.is_file():
            raise IngestError(f"the tileset references {path!r}, which is missing from {self.root}")
        self.files[path] = role
        return True

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()


def resolve_uri(base_file: str, uri: str) -> str | None:
    """The tileset-relative path of `uri` written in `base_file`; None for data URIs (nothing to fetch)."""
    if uri.startswith("data:"):
        return None
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc or uri.startswith("/"):
        raise IngestError(f"{base_file} references {uri!r}: only relative URIs inside the tileset folder can be "
                          "imported")
    relative = unquote(parts.path)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base_file), relative))
    if joined == ".." or joined.startswith("../") or joined.startswith("/") or not relative:
        raise IngestError(f"{base_file} references {uri!r}, which leaves the tileset folder")
    return joined


def matrix(values: list[float] | None) -> Matrix:
    """A 3D Tiles `transform` (column-major) as a 4×4 array; identity when absent."""
    if values is None:
        return np.eye(4)
    if len(values) != 16:
        raise IngestError("a tile transform must have 16 numbers")
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T


def _json(data: bytes, path: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path} is not valid JSON: {exc}") from exc


def _glb_json(data: bytes, path: str) -> dict[str, Any]:
    if len(data) < 20 or data[:4] != b"glTF":
        raise IngestError(f"{path} holds no valid GLB")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != 0x4E4F534A or 20 + length > len(data):
        raise IngestError(f"{path}: the GLB's first chunk is not JSON")
    parsed = _json(data[20:20 + length], path)
    return parsed if isinstance(parsed, dict) else {}


def _gltf_uris(gltf: dict[str, Any]) -> Iterator[str]:
    for key in ("buffers", "images"):
        for item in gltf.get(key, []) or []:
            if isinstance(item, dict) and isinstance(item.get("uri"), str):
                yield item["uri"]


def content_resources(data: bytes, path: str) -> Iterator[str]:
    """URIs a content file names: glTF buffers/images, an i3dm's glTF URL, the same inside a cmpt's tiles."""
    magic = data[:4]
    if path.lower().endswith(".gltf"):
        parsed = _json(data, path)
        yield from _gltf_uris(parsed if isinstance(parsed, dict) else {})
    elif magic == b"glTF":
        yield from _gltf_uris(_glb_json(data, path))
    elif magic in (b"b3dm", b"i3dm", b"pnts"):
        if len(data) < 28:
            raise IngestError(f"{path} is truncated")
        header = 32 if magic == b"i3dm" else 28
        ft_json, ft_bin, bt_json, bt_bin = struct.unpack_from("<4I", data, 12)
        body = data[header + ft_json + ft_bin + bt_json + bt_bin:]
        if magic == b"i3dm" and struct.unpack_from("<I", data, 28)[0] == 0:
            yield body.rstrip(b"\0 ").decode("utf-8")
        elif magic != b"pnts" and body[:4] == b"glTF":
            yield from _gltf_uris(_glb_json(body, path))
    elif magic == b"cmpt":
        count = struct.unpack_from("<I", data, 12)[0]
        offset = 16
        for _ in range(count):
            inner_length = struct.unpack_from("<I", data, offset + 8)[0]
            yield from content_resources(data[offset:offset + inner_length], path)
            offset += inner_length


def _contents(tile: dict[str, Any]) -> list[dict[str, Any]]:
    found = [tile["content"]] if isinstance(tile.get("content"), dict) else []
    return found + [c for c in tile.get("contents", []) or [] if isinstance(c, dict)]


def _content_uri(content: dict[str, Any], where: str) -> str:
    uri = content.get("uri", content.get("url"))  # `url` in pre-1.0 tilesets
    if not isinstance(uri, str):
        raise IngestError(f"{where}: a tile content has no uri")
    return uri


class Walker:
    """Walks one tileset folder; `walk()` returns the files and content tiles."""

    def __init__(self, root: Path, root_name: str, root_json: dict[str, Any],
                 on_file: Callable[[int], None] | None = None) -> None:
        self.out = WalkedTileset(root.resolve())
        self.root_name = root_name
        self.root_json = root_json
        self.on_file = on_file or (lambda n: None)

    def walk(self) -> WalkedTileset:
        self.out.add(self.root_name, TILESET)
        self._tileset(self.root_json, self.root_name, np.eye(4), 0)
        return self.out

    def _file(self, base: str, uri: str, role: str) -> str | None:
        path = resolve_uri(base, uri)
        if path is None or not self.out.add(path, role):
            return None
        self.on_file(len(self.out.files))
        return path

    def _tileset(self, document: Any, path: str, parent: Matrix, level: int) -> None:
        if not isinstance(document, dict) or not isinstance(document.get("root"), dict):
            raise IngestError(f"{path} is not a 3D Tiles tileset (no root tile)")
        stack: list[tuple[dict[str, Any], Matrix, int]] = [(document["root"], parent, level)]
        while stack:
            tile, above, depth = stack.pop()
            here = above @ matrix(tile.get("transform"))
            if isinstance(tile.get("implicitTiling"), dict):
                self._implicit(tile, path, here, depth)
                continue
            self._explicit_contents(tile, path, here, depth)
            for child in tile.get("children", []) or []:
                if isinstance(child, dict):
                    stack.append((child, here, depth + 1))

    def _explicit_contents(self, tile: dict[str, Any], path: str, here: Matrix, depth: int) -> None:
        paths = []
        for content in _contents(tile):
            uri = _content_uri(content, path)
            if urlsplit(uri).path.lower().endswith(".json"):
                target = self._file(path, uri, TILESET)
                if target is not None:
                    self._tileset(_json(self.out.read(target), target), target, here, depth + 1)
                continue
            target = self._file(path, uri, CONTENT)
            if target is not None:
                paths.append(target)
                self._resources(target)
        if paths:
            self.out.tiles.append(TileRecord(tuple(paths), depth, float(tile.get("geometricError", 0.0)),
                                             tile.get("boundingVolume", {}), here))

    def _resources(self, content_path: str) -> None:
        """Files a content names, and the files those name in turn (an i3dm's external glTF)."""
        pending = [content_path]
        while pending:
            path = pending.pop()
            for uri in content_resources(self.out.read(path), path):
                added = self._file(path, uri, RESOURCE)
                if added is not None and added.lower().endswith((".gltf", ".glb")):
                    pending.append(added)

    def _implicit(self, tile: dict[str, Any], path: str, here: Matrix, depth: int) -> None:
        tiling = tile["implicitTiling"]
        scheme = tiling.get("subdivisionScheme")
        if scheme not in ("QUADTREE", "OCTREE"):
            raise IngestError(f"{path}: unknown implicit subdivision scheme {scheme!r}")
        dims = 2 if scheme == "QUADTREE" else 3
        subtree_levels = int(tiling.get("subtreeLevels", 0))
        available = int(tiling.get("availableLevels", tiling.get("maximumLevel", -1) + 1))
        subtree_uri = (tiling.get("subtrees") or {}).get("uri")
        if subtree_levels < 1 or not 0 < available <= MAX_IMPLICIT_LEVELS or not isinstance(subtree_uri, str):
            raise IngestError(f"{path}: implicitTiling needs subtreeLevels ≥ 1, 1–{MAX_IMPLICIT_LEVELS} "
                              "availableLevels and a subtrees uri")
        templates = [_content_uri(c, path) for c in _contents(tile)]
        pending = [(0, (0, 0, 0))]
        while pending:
            level, xyz = pending.pop()
            subtree_path = self._file(path, _fill(subtree_uri, level, xyz), SUBTREE)
            if subtree_path is None:
                continue
            tiles, contents, children = _subtree(self.out, subtree_path, dims, subtree_levels, len(templates))
            for local_level in range(min(subtree_levels, available - level)):
                first = (2 ** (dims * local_level) - 1) // (2 ** dims - 1)
                for index in range(2 ** (dims * local_level)):
                    if not tiles(first + index):
                        continue
                    coords = _global(xyz, local_level, _demorton(index, dims))
                    found = []
                    for c, template in enumerate(templates):
                        if contents[c](first + index):
                            target = self._file(path, _fill(template, level + local_level, coords), CONTENT)
                            if target is not None:
                                found.append(target)
                                self._resources(target)
                    if found:
                        volume = subdivide(tile.get("boundingVolume", {}), level + local_level, coords, dims)
                        error = float(tile.get("geometricError", 0.0)) / 2 ** (level + local_level)
                        self.out.tiles.append(TileRecord(tuple(found), depth + level + local_level, error, volume,
                                                         here))
            if level + subtree_levels < available:
                for index in range(2 ** (dims * subtree_levels)):
                    if children(index):
                        pending.append((level + subtree_levels,
                                        _global(xyz, subtree_levels, _demorton(index, dims))))


def _fill(template: str, level: int, xyz: tuple[int, int, int]) -> str:
    return (template.replace("{level}", str(level)).replace("{x}", str(xyz[0])).replace("{y}", str(xyz[1]))
            .replace("{z}", str(xyz[2])))


def _demorton(index: int, dims: int) -> tuple[int, int, int]:
    xyz = [0, 0, 0]
    for bit in range(MAX_IMPLICIT_LEVELS):
        for axis in range(dims):
            xyz[axis] |= ((index >> (dims * bit + axis)) & 1) << bit
    return xyz[0], xyz[1], xyz[2]


def _global(root: tuple[int, int, int], levels: int, local: tuple[int, int, int]) -> tuple[int, int, int]:
    scale = 2 ** levels
    return root[0] * scale + local[0], root[1] * scale + local[1], root[2] * scale + local[2]


Availability = Callable[[int], bool]


def _subtree(out: WalkedTileset, path: str, dims: int, levels: int, content_count: int
             ) -> tuple[Availability, list[Availability], Availability]:
    """Tile, per-content and child-subtree availability of a `.subtree` (binary) or subtree JSON file."""
    data = out.read(path)
    binary = b""
    if data[:4] == b"subt":
        if len(data) < 24:
            raise IngestError(f"{path} is a truncated subtree")
        json_length, binary_length = struct.unpack_from("<QQ", data, 8)
        document = _json(data[24:24 + json_length], path)
        binary = data[24 + json_length:24 + json_length + binary_length]
    else:
        document = _json(data, path)
    buffers: list[bytes] = []
    for i, buffer in enumerate(document.get("buffers", []) or []):
        if isinstance(buffer.get("uri"), str):
            target = resolve_uri(path, buffer["uri"])
            if target is None:
                raise IngestError(f"{path}: data URIs in subtree buffers are not supported")
            out.add(target, RESOURCE)
            buffers.append(out.read(target))
        elif i == 0:
            buffers.append(binary)
        else:
            raise IngestError(f"{path}: buffer {i} has no uri")
    views = document.get("bufferViews", []) or []

    def availability(spec: Any, bits: int) -> Availability:
        if not isinstance(spec, dict):
            raise IngestError(f"{path}: missing availability")
        if "constant" in spec:
            value = bool(spec["constant"])
            return lambda i: value
        try:
            view = views[int(spec["bitstream"])]
            start = int(view.get("byteOffset", 0))
            stream = buffers[int(view["buffer"])][start:start + int(view["byteLength"])]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise IngestError(f"{path}: bad availability bitstream ({exc})") from exc
        if len(stream) * 8 < bits:
            raise IngestError(f"{path}: availability bitstream shorter than {bits} bits")
        array = np.frombuffer(stream, dtype=np.uint8)
        return lambda i: bool((array[i >> 3] >> (i & 7)) & 1)

    tile_bits = (2 ** (dims * levels) - 1) // (2 ** dims - 1)
    content = document.get("contentAvailability", [])
    content_specs = content if isinstance(content, list) else [content]
    if len(content_specs) < content_count:
        raise IngestError(f"{path}: {content_count} content templates but {len(content_specs)} content "
                          "availabilities")
    return (availability(document.get("tileAvailability"), tile_bits),
            [availability(s, tile_bits) for s in content_specs[:content_count]],
            availability(document.get("childSubtreeAvailability"), 2 ** (dims * levels)))


def subdivide(volume: dict[str, Any], level: int, xyz: tuple[int, int, int], dims: int) -> dict[str, Any]:
    """The bounding volume of implicit tile (level, x, y[, z]) cut from the root's box or region."""
    n = 2 ** level
    if "region" in volume:
        w, s, e, north, lo, hi = volume["region"]
        dx, dy = (e - w) / n, (north - s) / n
        if dims == 3:
            dz = (hi - lo) / n
            lo, hi = lo + dz * xyz[2], lo + dz * (xyz[2] + 1)
        return {"region": [w + dx * xyz[0], s + dy * xyz[1], w + dx * (xyz[0] + 1), s + dy * (xyz[1] + 1), lo, hi]}
    if "box" in volume:
        values = np.asarray(volume["box"], dtype=np.float64)
        centre, axes = values[:3], values[3:].reshape(3, 3)
        corner = centre - axes.sum(axis=0)
        scale = [1.0 / n, 1.0 / n, 1.0 / n if dims == 3 else 1.0]
        index = [xyz[0], xyz[1], xyz[2] if dims == 3 else 0]
        new_centre = corner + sum(axes[i] * scale[i] * (2 * index[i] + 1) for i in range(3))
        new_axes = axes * np.asarray(scale)[:, None]
        return {"box": [float(v) for v in (*new_centre, *new_axes.reshape(-1))]}
    return volume
