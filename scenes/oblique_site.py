"""A procedural oblique-photography tile set in the Smart3D/ContextCapture layout, authored from nothing.

`metadata.xml` plus `Data/Tile_±xxx_±yyy/` folders holding a textured terrain patch as a LOD pyramid: a coarse
root node, and per level four children per node that halve the area at the same grid and texture size. Nodes are
OpenSceneGraph ASCII scenes (`.osgt`: PagedLODs referring to their finer `.osgb` files, leaves as Geodes), to be
written as real OSGB by OSG's own writer, or Wavefront OBJ + MTL files named `Tile_…_L{level}_{path}.obj`.
Textures are JPEG; their colour is a smooth function of the ground position (`ground_color`), so a test can check
that every vertex's UV lands on the colour of where it stands. Seeded and pure: the same call, the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

FAR = 1e30


@dataclass(frozen=True)
class SiteOptions:
    tiles_x: int = 1
    tiles_y: int = 1
    levels: int = 3
    tile_size: float = 64.0  # metres per Tile_ folder
    grid: int = 8  # quads per node side at every level
    texture_px: int = 64  # texture width and height at every level; also the PagedLOD pixel threshold
    srs: str = "ENU:31.2304,121.4737"
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    offset: tuple[float, float] = (-32.0, -32.0)  # where tile (0, 0) starts, relative to the SRS origin
    fmt: str = "osgt"  # or "obj"
    texture: str = "jpg"  # or "png": RGBA with a transparent stripe along each node's west edge


def ground_color(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """RGB (0–255) of the ground at input-frame metres (x, y): smooth, different along x and y."""
    return np.stack([127 + 100 * np.sin(x / 15.0), 127 + 100 * np.cos(y / 15.0),
                     127 + 100 * np.sin((x + y) / 25.0)], axis=-1)


def ground_height(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    return 3.0 * np.sin(x / 17.0) * np.cos(y / 23.0) + 0.05 * x + 8.0 * ((np.abs(x - 5) < 6) & (np.abs(y - 3) < 6))


def tile_name(i: int, j: int) -> str:
    return f"Tile_{i:+04d}_{j:+04d}"


def metadata_xml(srs: str, origin: tuple[float, float, float]) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<ModelMetadata version="1">\n'
            f"\t<!--Spatial Reference System-->\n\t<SRS>{srs}</SRS>\n"
            f"\t<!--Origin in Spatial Reference System-->\n\t<SRSOrigin>{','.join(f'{v:g}' for v in origin)}"
            f"</SRSOrigin>\n\t<Texture>\n\t\t<ColorSource>Visible</ColorSource>\n\t</Texture>\n"
            f"</ModelMetadata>\n").encode()


@dataclass(frozen=True)
class Node:
    """One node of the pyramid: level, quadrant path and the square it covers (input-frame metres)."""

    level: int
    path: str
    x0: float
    y0: float
    size: float

    def children(self) -> Iterator[Node]:
        half = self.size / 2
        for q in range(4):
            yield Node(self.level + 1, self.path + str(q), self.x0 + half * (q % 2), self.y0 + half * (q // 2), half)

    def mesh(self, grid: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """Vertices (x, y, z), OpenGL UVs (v up) and CCW triangles of the node's height field."""
        t = np.linspace(0.0, 1.0, grid + 1)
        u, v = np.meshgrid(t, t)
        x, y = self.x0 + u.ravel() * self.size, self.y0 + v.ravel() * self.size
        positions = np.column_stack([x, y, ground_height(x, y)])
        uvs = np.column_stack([u.ravel(), v.ravel()])
        a = (np.arange(grid)[None, :] + (grid + 1) * np.arange(grid)[:, None]).ravel()
        triangles = np.concatenate([np.stack([a, a + 1, a + grid + 2], 1),
                                    np.stack([a, a + grid + 2, a + grid + 1], 1)])
        return positions, uvs, triangles

    def texture(self, pixels: int, kind: str = "jpg") -> bytes:
        """The node's JPEG (or RGBA PNG): row 0 is the north edge (image top), as files are stored."""
        centres = (np.arange(pixels) + 0.5) / pixels * self.size
        x, y = np.meshgrid(self.x0 + centres, self.y0 + self.size - centres)
        rgb = np.clip(ground_color(x, y), 0, 255).astype(np.uint8)
        out = io.BytesIO()
        if kind == "png":
            alpha = np.full((pixels, pixels, 1), 255, np.uint8)
            alpha[:, : max(1, pixels // 16)] = 0
            Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(out, "PNG")
        else:
            Image.fromarray(rgb, "RGB").save(out, "JPEG", quality=92)
        return out.getvalue()


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def _numbers(values: NDArray, per_row: int, fmt: str) -> str:
    rows = values.reshape(-1, per_row)
    return "\n".join(" ".join(fmt.format(v) for v in row) for row in rows)


def _geode(node: Node, image: str, options: SiteOptions, ids: _Ids) -> str:
    positions, uvs, triangles = node.mesh(options.grid)
    return f"""osg::Geode {{
UniqueID {ids()}
Drawables 1 {{
osg::Geometry {{
UniqueID {ids()}
StateSet TRUE {{
osg::StateSet {{
UniqueID {ids()}
TextureModeList 1 {{
Data 1 {{
GL_TEXTURE_2D ON
}}
}}
TextureAttributeList 1 {{
Data 1 {{
osg::Texture2D {{
UniqueID {ids()}
WRAP_S CLAMP_TO_EDGE
WRAP_T CLAMP_TO_EDGE
MIN_FILTER LINEAR
MAG_FILTER LINEAR
Image TRUE {{
ClassName osg::Image
UniqueID {ids()}
FileName "{image}"
WriteHint 0 2
}}
}}
Value OFF
}}
}}
}}
}}
PrimitiveSetList 1 {{
osg::DrawElementsUShort {{
UniqueID {ids()}
Mode TRIANGLES
vector {triangles.size} {{
{_numbers(triangles, 3, "{:d}")}
}}
}}
}}
VertexArray TRUE {{
osg::Vec3Array {{
UniqueID {ids()}
Binding BIND_PER_VERTEX
vector {len(positions)} {{
{_numbers(positions, 3, "{:.4f}")}
}}
}}
}}
TexCoordArrayList 1 {{
osg::Vec2Array {{
UniqueID {ids()}
Binding BIND_PER_VERTEX
vector {len(uvs)} {{
{_numbers(uvs, 2, "{:.6f}")}
}}
}}
}}
}}
}}
}}
"""


def _paged_lod(node: Node, image: str, files: list[str], options: SiteOptions, ids: _Ids) -> str:
    centre = (node.x0 + node.size / 2, node.y0 + node.size / 2, 0.0)
    radius = math.hypot(node.size, node.size) / 2 + 6.0
    threshold = float(options.texture_px)
    ranges = "\n".join([f"0 {threshold:g}"] + [f"{threshold:g} {FAR:g}"] * len(files))
    names = "\n".join(['""'] + [f'"{f}"' for f in files])
    priorities = "\n".join(["0 1"] * (len(files) + 1))
    return f"""osg::PagedLOD {{
UniqueID {ids()}
CenterMode USER_DEFINED_CENTER
UserCenter {centre[0]:g} {centre[1]:g} {centre[2]:g} {radius:g}
RangeMode PIXEL_SIZE_ON_SCREEN
RangeList {len(files) + 1} {{
{ranges}
}}
DatabasePath FALSE
NumChildrenThatCannotBeExpired 0
DisableExternalChildrenPaging FALSE
RangeDataList {len(files) + 1} {{
{names}
}}
PriorityList {len(files) + 1} {{
{priorities}
}}
Children 1 {{
{_geode(node, image, options, ids)}}}
}}
"""


def _scene(body: str) -> bytes:
    return f"#Ascii Scene\n#Version 161\n#Generator OpenSceneGraph 3.6.5\n\n{body}".encode()


def _node_name(tile: str, node: Node) -> str:
    return tile if node.level == 0 else f"{tile}_L{node.level}_{node.path}"


def _osg_tile(tile: str, root: Node, options: SiteOptions) -> dict[str, bytes]:
    """Scenes named `<file>.osgt` (to become `<file>.osgb`) and their JPEGs."""
    files: dict[str, bytes] = {}

    def node_text(node: Node, ids: _Ids) -> str:
        """The node as scene text (ids numbered within its file); its finer files go into `files`."""
        image = f"{_node_name(tile, node)}.{options.texture}"
        files[image] = node.texture(options.texture_px, options.texture)
        if node.level == options.levels - 1:
            return _geode(node, image, options, ids)
        kids = list(node.children())
        if node.level == 0 and node.level + 1 < options.levels - 1:  # one file holding four PagedLODs
            group_file, group_ids = f"{tile}_L1_0", _Ids()
            head = f"osg::Group {{\nUniqueID {group_ids()}\nChildren 4 {{\n"
            body = "".join(node_text(k, group_ids) for k in kids)
            files[f"{group_file}.osgt"] = _scene(f"{head}{body}}}\n}}\n")
            return _paged_lod(node, image, [f"{group_file}.osgb"], options, ids)
        for kid in kids:  # otherwise one file per child
            files[f"{_node_name(tile, kid)}.osgt"] = _scene(node_text(kid, _Ids()))
        return _paged_lod(node, image, [f"{_node_name(tile, k)}.osgb" for k in kids], options, ids)

    files[f"{tile}.osgt"] = _scene(node_text(root, _Ids()))
    return files


def _obj_tile(tile: str, root: Node, options: SiteOptions) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    pending = [root]
    while pending:
        node = pending.pop()
        name = _node_name(tile, node)
        positions, uvs, triangles = node.mesh(options.grid)
        lines = [f"mtllib {name}.mtl", *(f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in positions),
                 *(f"vt {u:.6f} {v:.6f}" for u, v in uvs), "usemtl texture",
                 *(f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in triangles)]
        files[f"{name}.obj"] = ("\n".join(lines) + "\n").encode()
        files[f"{name}.mtl"] = f"newmtl texture\nKd 1 1 1\nmap_Kd {name}.{options.texture}\n".encode()
        files[f"{name}.{options.texture}"] = node.texture(options.texture_px, options.texture)
        if node.level < options.levels - 1:
            pending.extend(node.children())
    return files


def oblique_site(options: SiteOptions | None = None) -> dict[str, bytes]:
    """Relative path → bytes of the whole site: `metadata.xml` and every tile folder's files."""
    options = options or SiteOptions()
    site = {"metadata.xml": metadata_xml(options.srs, options.origin)}
    for i in range(options.tiles_x):
        for j in range(options.tiles_y):
            tile = tile_name(i, j)
            root = Node(0, "", options.offset[0] + i * options.tile_size, options.offset[1] + j * options.tile_size,
                        options.tile_size)
            files = _osg_tile(tile, root, options) if options.fmt == "osgt" else _obj_tile(tile, root, options)
            site.update({f"Data/{tile}/{name}": data for name, data in files.items()})
    return site


def tiles_per_level(options: SiteOptions) -> list[int]:
    """How many LOD nodes each level of the site has."""
    return [options.tiles_x * options.tiles_y * 4**level for level in range(options.levels)]
