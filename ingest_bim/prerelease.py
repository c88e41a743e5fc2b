"""Pre-release and alias IFC4X3 schema names (`IFC4X3_RC2`, `IFC4X3_RC3`, `IFC4X3`, `IFC4X3_TC1` …) read as the
IFC4X3 schema IfcOpenShell knows.

For most such files the header's schema name is the only difference. The file is copied once, in chunks, to a
temporary file whose FILE_SCHEMA names the known schema (the model is never held twice in memory; `ifcopenshell.open`
takes a path, and `file.from_string` would need the whole text as a Python string next to the parsed model), and
opened from there. IfcOpenShell's parser is lenient: an entity the schema lacks is dropped with a logged error, an
instance with another number of attributes is kept with a logged warning. Either means the file is not IFC4X3 as
written, so it is refused naming the entity.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import ifcopenshell

from ingest_gis.records import IngestError

KNOWN_IFC4X3 = "IFC4X3_ADD2"
_HEADER_LIMIT = 1 << 20  # the header section ends within the first megabyte of any real file
_FILE_SCHEMA = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.IGNORECASE)
_ALIAS = re.compile(r"^IFC4X3(_RC\d|_TC\d|_ADD\d)?$")
_UNKNOWN = re.compile(r"Entity with name '([^']+)' not found in schema '[^']*' at offset (\d+)")
_ARITY = re.compile(r"Expected (\d+) attribute values, found (\d+) for instance #(\d+)")


def header_schema(path: Path) -> str | None:
    """The first schema name of the header's FILE_SCHEMA, upper case; None when the header has none."""
    with path.open("rb") as handle:
        head = handle.read(_HEADER_LIMIT)
    match = _FILE_SCHEMA.search(head.split(b"ENDSEC", 1)[0])
    return match.group(1).decode("ascii", "replace").strip().upper() if match else None


def is_ifc4x3_alias(schema: str) -> bool:
    """An IFC4X3 name IfcOpenShell does not open itself (any but IFC4X3_ADD2)."""
    return schema != KNOWN_IFC4X3 and bool(_ALIAS.match(schema))


def _rewritten_copy(path: Path, folder: str) -> Path:
    """`path` with FILE_SCHEMA naming IFC4X3_ADD2, streamed into `folder`."""
    target = Path(folder) / "model.ifc"
    with path.open("rb") as source, target.open("wb") as out:
        head = source.read(_HEADER_LIMIT)
        header_end = head.find(b"ENDSEC")
        header_end = len(head) if header_end < 0 else header_end
        header = _FILE_SCHEMA.sub(lambda m: m.group(0).replace(m.group(1), KNOWN_IFC4X3.encode()),
                                  head[:header_end], count=1)
        out.write(header + head[header_end:])
        shutil.copyfileobj(source, out, 1 << 22)
    return target


def _instance_at(copy: Path, offset: int) -> str:
    """`#id` of the instance whose entity name starts at `offset` of the copy, if it can be seen."""
    with copy.open("rb") as handle:
        handle.seek(max(0, offset - 64))
        before = handle.read(min(offset, 64))
    match = re.search(rb"#(\d+)\s*=\s*$", before)
    return f" (#{match.group(1).decode()})" if match else ""


def open_as_ifc4x3(path: Path, schema: str) -> ifcopenshell.file:
    """Open an IFC4X3 alias/pre-release file as IFC4X3; IngestError naming the first entity that does not fit."""
    with tempfile.TemporaryDirectory(prefix="citytwin-ifc4x3-") as folder:
        copy = _rewritten_copy(path, folder)
        ifcopenshell.get_log()  # reading the log empties it: start from a clean one
        try:
            model = ifcopenshell.open(str(copy))
        except Exception as exc:
            raise IngestError(f"{path.name} (schema {schema}) cannot be read as IFC4X3: {exc}") from exc
        log = ifcopenshell.get_log()
        unknown = _UNKNOWN.search(log)
        if unknown:
            entity, offset = unknown.group(1), int(unknown.group(2))
            raise IngestError(f"{path.name} (schema {schema}) cannot be read as IFC4X3: its entity {entity}"
                              f"{_instance_at(copy, offset)} does not exist in IFC4X3")
        arity = _ARITY.search(log)
        if arity:
            expected, found, step_id = (int(g) for g in arity.groups())
            try:
                instance = model.by_id(step_id)
            except RuntimeError:
                instance = None
            entity = instance.is_a() if instance is not None else "instance"
            raise IngestError(f"{path.name} (schema {schema}) cannot be read as IFC4X3: its {entity} #{step_id} has "
                              f"{found} attributes where IFC4X3 has {expected}")
    return model
