"""OpenSceneGraph files (OSGB, and OBJ through OSG's own reader) as plain textured meshes per LOD node.

Debian's `osgconv` reads the files (many per process) and writes them as one `.osgt` text scene, which
`ingest_gis.osgt` parses. Each file becomes LOD units: one per `osg::PagedLOD` (its inline children are the
unit's geometry; its file children are finer units, loaded later) and one for the geometry outside any PagedLOD.
Geometry keeps the input's frame (transforms applied); images become JPEG or PNG bytes, top row first, and UVs
are flipped to glTF's convention (v down).
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from ingest_gis.osgt import Block, OsgtError, parse_osgt, unquote
from ingest_gis.records import IngestError
from tiles.textured import Texture

Matrix = NDArray[np.float64]  # 4×4, OSG's row-vector convention: p' = [p, 1] @ M
IDENTITY: Matrix = np.eye(4)
JPEG_QUALITY = 90
OSG_ENV = {"OSG_OPTIMIZER": "OFF", "OSG_NOTIFY_LEVEL": "WARN"}
_FAILED = re.compile(r"^Error reading file (.+?): (.+)$", re.MULTILINE)
# GL pixel formats → (Pillow mode of the raw bytes, bytes per pixel); S3TC blocks go through Pillow's BCn decoder.
_RAW_FORMATS = {6407: ("RGB", 3), 6408: ("RGBA", 4), 6409: ("L", 1), 6410: ("LA", 2), 6403: ("L", 1),
                6406: ("L", 1), 32992: ("BGR", 3), 32993: ("BGRA", 4)}
_S3TC = {33776: (1, 8), 33777: (1, 8), 33778: (2, 16), 33779: (3, 16)}  # format → (BCn number, bytes per block)
GL_UNSIGNED_BYTE = 5121
IMAGE_INLINE_DATA = "0"


@dataclass
class MeshPart:
    """Triangles sharing one texture, in the input's frame (metres), UVs already in glTF's convention."""

    positions: NDArray[np.float64]
    uvs: NDArray[np.float32] | None
    triangles: NDArray[np.uint32]
    texture: Texture | None


@dataclass
class LodUnit:
    """What a file contributes to the pyramid: one PagedLOD (or the loose geometry of a file)."""

    name: str
    parts: list[MeshPart] = field(default_factory=list)
    child_files: list[tuple[Path, Matrix]] = field(default_factory=list)
    nested: list[LodUnit] = field(default_factory=list)
    pixel_size: float | None = None  # PIXEL_SIZE_ON_SCREEN: refine when the node is this many pixels across
    distance: float | None = None  # DISTANCE_FROM_EYE_POINT: refine closer than this
    radius: float | None = None  # the PagedLOD's own radius when it declares one


class SceneReader:
    """Turns parsed scenes into LOD units; keeps warnings and decodes each image once."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self._textures: dict[int, Texture | None] = {}

    def units(self, scene: Block, source: Path, matrix: Matrix = IDENTITY) -> list[LodUnit]:
        """The LOD units of one file's scene graph (`scene` is its root object)."""
        loose = LodUnit(source.name)
        found: list[LodUnit] = []
        self._walk(scene, source, matrix, None, loose, found)
        return ([loose] if loose.parts else []) + found

    def _walk(self, node: Block, source: Path, matrix: Matrix, texture: Texture | None, into: LodUnit,
              found: list[LodUnit]) -> None:
        texture = self._stateset_texture(node, source, texture)
        kind = node.name
        if kind == "osg::Geometry":
            part = self._geometry(node, source, matrix, texture)
            if part is not None:
                into.parts.append(part)
            return
        if kind == "osg::MatrixTransform":
            holder = node.block("Matrix")
            if holder is not None:
                local = holder.numbers()
                if local.size != 16:
                    raise IngestError(f"{source.name}: a MatrixTransform has {local.size} numbers, not 16")
                matrix = local.reshape(4, 4) @ matrix
        if kind == "osg::PagedLOD":
            unit = self._paged_lod(node, source, matrix, f"{source.name}#{len(found) + 1}")
            found.append(unit)
            for child in _children(node, "Children"):
                self._walk(child, source, matrix, texture, unit, unit.nested)
            return
        if kind == "osg::ProxyNode":
            self.warnings.append(f"{source.name}: ProxyNode references are not followed")
        children = _children(node, "Drawables") + _children(node, "Children")
        if kind == "osg::LOD" and children:
            children = [children[_finest(node, len(children))]]
        for child in children:
            self._walk(child, source, matrix, texture, into, found)

    def _paged_lod(self, node: Block, source: Path, matrix: Matrix, name: str) -> LodUnit:
        unit = LodUnit(name)
        ranges = _ranges(node)
        names = node.block("RangeDataList")
        files = names.strings() if names is not None else []
        finer = [i for i, f in enumerate(files) if f]
        for i in finer:
            path = Path(files[i].replace("\\", "/"))  # names written on Windows may use backslashes
            unit.child_files.append((path if path.is_absolute() else source.parent / path, matrix))
        if finer and len(ranges) > max(finer):
            if node.prop("RangeMode") == "PIXEL_SIZE_ON_SCREEN":
                unit.pixel_size = float(min(ranges[i][0] for i in finer))
            else:
                unit.distance = float(max(ranges[i][1] for i in finer))
        if node.prop("CenterMode") in ("USER_DEFINED_CENTER", "UNION_OF_BOUNDING_SPHERE_AND_USER_DEFINED"):
            center = node.props.get("UserCenter", [])
            if len(center) == 4:
                unit.radius = abs(float(center[3])) * _scale(matrix)
        return unit

    def _stateset_texture(self, node: Block, source: Path, inherited: Texture | None) -> Texture | None:
        stateset = node.object_in("StateSet")
        if stateset is None:
            return inherited
        attributes = stateset.block("TextureAttributeList")
        unit0 = attributes.block("Data") if attributes is not None else None
        if unit0 is None:
            return inherited
        texture = next((o for o in unit0.objects() if o.name.startswith("osg::Texture")), None)
        image = texture.block("Image") if texture is not None else None
        if image is None:
            return inherited
        if id(image) not in self._textures:
            self._textures[id(image)] = self._image(image, source)
        return self._textures[id(image)]

    def _image(self, image: Block, source: Path) -> Texture | None:
        hint = image.props.get("WriteHint", [])
        data = image.block("Data")
        if len(hint) >= 2 and hint[1] == IMAGE_INLINE_DATA and data is not None:
            return _inline_image(image, data, source)
        filename = unquote(image.prop("FileName", '""') or '""')
        if not filename:
            self.warnings.append(f"{source.name}: an image without data or file name is left out")
            return None
        path = Path(filename) if Path(filename).is_absolute() else source.parent / filename
        if not path.is_file():
            self.warnings.append(f"{source.name}: texture {filename} is missing; its part stays untextured")
            return None
        return encoded_file(path)

    def _geometry(self, node: Block, source: Path, matrix: Matrix, texture: Texture | None) -> MeshPart | None:
        vertices = node.object_in("VertexArray")
        if vertices is None:
            return None
        positions = _vector(vertices).reshape(-1, 3) if _vector(vertices).size % 3 == 0 else None
        if positions is None:
            raise IngestError(f"{source.name}: a vertex array is not made of (x, y, z) triples")
        triangles = _triangles(node, len(positions), source)
        if not len(triangles):
            return None
        if not np.array_equal(matrix, IDENTITY):
            positions = positions @ matrix[:3, :3] + matrix[3, :3]
        uvs = None
        texcoords = node.block("TexCoordArrayList")
        arrays = texcoords.objects() if texcoords is not None else []
        if texture is not None and arrays:
            raw = _vector(arrays[0])
            if raw.size == 2 * len(positions):
                uv = raw.reshape(-1, 2).astype(np.float32)
                uvs = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]]).astype(np.float32)
        if uvs is None and texture is not None:
            self.warnings.append(f"{source.name}: a textured geometry has no matching texture coordinates")
        return MeshPart(positions, uvs, triangles, texture if uvs is not None else None)


def _children(node: Block, holder: str) -> list[Block]:
    block = node.block(holder)
    return block.objects() if block is not None else []


def _ranges(node: Block) -> NDArray[np.float64]:
    block = node.block("RangeList")
    values = block.numbers() if block is not None else np.zeros(0)
    return values.reshape(-1, 2) if values.size % 2 == 0 else np.zeros((0, 2))


def _finest(node: Block, count: int) -> int:
    """The most detailed child of a plain osg::LOD: nearest range, or largest pixel size."""
    ranges = _ranges(node)
    if len(ranges) < count:
        return 0
    if node.prop("RangeMode") == "PIXEL_SIZE_ON_SCREEN":
        return int(np.argmax(ranges[:count, 1]))
    return int(np.argmin(ranges[:count, 0]))


def _scale(matrix: Matrix) -> float:
    return float(np.cbrt(abs(np.linalg.det(matrix[:3, :3])))) or 1.0


def _vector(array: Block) -> NDArray[np.float64]:
    block = array.block("vector")
    return block.numbers() if block is not None else np.zeros(0)


def _triangles(node: Block, vertex_count: int, source: Path) -> NDArray[np.uint32]:
    found: list[NDArray[np.int64]] = []
    for primitive in _children(node, "PrimitiveSetList"):
        mode = (primitive.prop("Mode") or "POINTS").removeprefix("GL_")
        if primitive.name.startswith("osg::DrawElements"):
            vector = primitive.block("vector")
            indices = vector.numbers(np.int64) if vector is not None else np.zeros(0, np.int64)
            found.append(_assemble(mode, indices))
        elif primitive.name == "osg::DrawArrays":
            first, count = int(primitive.prop("First") or 0), int(primitive.prop("Count") or 0)
            found.append(_assemble(mode, np.arange(first, first + count, dtype=np.int64)))
        elif primitive.name == "osg::DrawArrayLengths":
            first = int(primitive.prop("First") or 0)
            vector = primitive.block("vector")
            lengths = vector.numbers(np.int64) if vector is not None else np.zeros(0, np.int64)
            for length in lengths:
                found.append(_assemble(mode, np.arange(first, first + length, dtype=np.int64)))
                first += int(length)
    triangles = np.concatenate(found) if found else np.zeros((0, 3), np.int64)
    if len(triangles) and (triangles.min() < 0 or triangles.max() >= vertex_count):
        raise IngestError(f"{source.name}: a primitive indexes vertex {int(triangles.max())} "
                          f"of a {vertex_count}-vertex array")
    return triangles.astype(np.uint32)


def _assemble(mode: str, idx: NDArray[np.int64]) -> NDArray[np.int64]:
    """Triangles (M, 3) from an index run in a GL primitive mode; points and lines give none."""
    n = len(idx)
    if mode == "TRIANGLES":
        return idx[: n - n % 3].reshape(-1, 3)
    if mode == "TRIANGLE_STRIP" and n >= 3:
        tri = np.stack([idx[:-2], idx[1:-1], idx[2:]], axis=1)
        tri[1::2] = tri[1::2][:, [1, 0, 2]]  # every second triangle of a strip is wound the other way
        return tri
    if mode in ("TRIANGLE_FAN", "POLYGON") and n >= 3:
        return np.stack([np.full(n - 2, idx[0]), idx[1:-1], idx[2:]], axis=1)
    if mode == "QUADS":
        quads = idx[: n - n % 4].reshape(-1, 4)
        return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    if mode == "QUAD_STRIP" and n >= 4:
        q = idx[: n - n % 2].reshape(-1, 2)
        a, b, c, d = q[:-1, 0], q[:-1, 1], q[1:, 1], q[1:, 0]
        return np.concatenate([np.stack([a, b, c], axis=1), np.stack([a, c, d], axis=1)])
    return np.zeros((0, 3), np.int64)


def _inline_image(image: Block, data: Block, source: Path) -> Texture:
    """Raw pixels (OSG keeps the bottom row first) → JPEG, or PNG when there is real alpha."""
    size = [int(v) for v in image.props.get("Size", ["0", "0", "1"])]
    width, height = size[0], size[1]
    pixel_format = int(image.prop("PixelFormat") or 0)
    strings = data.strings()
    if not strings or width <= 0 or height <= 0:
        raise IngestError(f"{source.name}: an embedded image has no pixels")
    raw = base64.b64decode(strings[0])
    try:
        if pixel_format in _S3TC:
            number, block_bytes = _S3TC[pixel_format]
            needed = -(-width // 4) * -(-height // 4) * block_bytes
            picture = Image.frombytes("RGBA", (width, height), raw[:needed], "bcn", number)
        elif pixel_format in _RAW_FORMATS and int(image.prop("DataType") or 0) == GL_UNSIGNED_BYTE:
            mode, channels = _RAW_FORMATS[pixel_format]
            packing = max(1, int(image.prop("Packing") or 1))
            stride = -(-width * channels // packing) * packing
            rows = np.frombuffer(raw[: stride * height], np.uint8).reshape(height, stride)
            pixels = np.ascontiguousarray(rows[:, : width * channels]).tobytes()
            picture = Image.frombytes(mode.replace("BGR", "RGB"), (width, height), pixels,
                                      "raw", mode)
        else:
            raise IngestError(f"{source.name}: embedded image format 0x{pixel_format:04x} is not supported")
    except ValueError as exc:
        raise IngestError(f"{source.name}: an embedded image is damaged ({exc})") from exc
    return encode_image(picture.transpose(Image.Transpose.FLIP_TOP_BOTTOM))


def encode_image(picture: Image.Image) -> Texture:
    """JPEG for opaque pictures, PNG when some pixel is transparent."""
    if picture.mode in ("RGBA", "LA") and int(np.asarray(picture.getchannel("A")).min()) < 255:
        out = io.BytesIO()
        picture.save(out, "PNG", optimize=False)
        return Texture(out.getvalue(), "image/png", *picture.size)
    opaque = picture.convert("L" if picture.mode in ("L", "LA") else "RGB")
    out = io.BytesIO()
    opaque.save(out, "JPEG", quality=JPEG_QUALITY)
    return Texture(out.getvalue(), "image/jpeg", *picture.size)


def encoded_file(path: Path) -> Texture:
    """An image file as a glTF image: JPEG and PNG bytes as they are, anything else re-encoded."""
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.format in ("JPEG", "PNG"):
                return Texture(data, f"image/{picture.format.lower()}", *picture.size)
            picture.load()
            return encode_image(picture)
    except (UnidentifiedImageError, OSError) as exc:
        raise IngestError(f"texture {path.name} is not a readable image ({exc})") from exc


def osgconv() -> str:
    found = shutil.which("osgconv")
    if found is None:
        raise IngestError("OpenSceneGraph's osgconv is not installed (Debian: apt-get install openscenegraph)")
    return found


def run_osgconv(inputs: Sequence[Path], output: Path, options: Sequence[str] = (), timeout: float = 600,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`osgconv [-O options] inputs… output` without the optimizer (it would merge and flatten nodes)."""
    command = [osgconv()]
    if options:
        command += ["-O", " ".join(options)]
    command += [str(p) for p in inputs] + [str(output)]
    try:
        return subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout,
                              env={**os.environ, **OSG_ENV}, check=False, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        raise IngestError(f"osgconv took longer than {timeout:.0f} s on {inputs[0].name}…") from exc


def read_scenes(files: Sequence[Path], *, obj: bool = False, root: Path | None = None) -> list[Block]:
    """Each file's root object, read by OSG in one `osgconv` run; a file OSG cannot read is an IngestError.

    OBJ files are read without OSG's y-up→z-up rotation and with their textures left as files.
    """
    options = ["noRotation", "WriteImageHint=UseExternal"] if obj else []
    with tempfile.TemporaryDirectory(prefix="citytwin-osg-") as tmp:
        output = Path(tmp) / "scene.osgt"
        done = run_osgconv(files, output, options)
        shown = {str(f): f for f in files}
        for path, reason in _FAILED.findall(done.stderr):
            if path in shown:
                raise IngestError(f"{_label(shown[path], root)} cannot be read by OpenSceneGraph: {reason.strip()}")
        if done.returncode != 0 or not output.exists():
            if len(files) > 1:  # find the culprit one file at a time
                return [scene for f in files for scene in read_scenes([f], obj=obj, root=root)]
            message = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise IngestError(f"{_label(files[0], root)} cannot be read by OpenSceneGraph: {message[0]}")
        text = output.read_text(errors="replace")
    try:
        top = parse_osgt(text).objects()
    except OsgtError as exc:
        raise IngestError(f"OpenSceneGraph's text output for {_label(files[0], root)} is unreadable: {exc}") from exc
    if len(files) == 1 and len(top) == 1:
        return top
    scenes = _children(top[0], "Children") if len(top) == 1 and top[0].name == "osg::Group" else []
    if len(scenes) != len(files):
        raise IngestError(f"OpenSceneGraph read {len(scenes)} of {len(files)} files from {_label(files[0], root)}…")
    return scenes


def _label(path: Path, root: Path | None) -> str:
    return str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else path.name


def write_osgb(source: Path, target: Path) -> None:
    """Convert an OSG scene (e.g. authored `.osgt`) to `.osgb` with its images embedded as files (JPEG/PNG)."""
    done = run_osgconv([source], target, ["WriteImageHint=IncludeFile"], cwd=source.parent)
    if done.returncode != 0 or not target.exists():
        raise IngestError(f"osgconv could not write {target.name}: {done.stderr.strip()[-300:]}")
