"""Opening an IFC file and refusing what cannot be ingested, with a message that says why."""

from __future__ import annotations

from pathlib import Path

import ifcopenshell

from ingest_gis.records import IngestError

SUPPORTED_SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3")
END_MARKER = b"END-ISO-10303-21;"


def open_model(path: str | Path) -> ifcopenshell.file:
    """Open an IFC-SPF file; IngestError for a missing, truncated, non-IFC or unsupported-schema file."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path} does not exist or is not a file")
    with path.open("rb") as handle:
        head = handle.read(64)
        handle.seek(max(0, path.stat().st_size - 4096))
        tail = handle.read()
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"ISO-10303-21;"):
        raise IngestError(f"{path.name} is not an IFC file (it does not start with ISO-10303-21;)")
    if END_MARKER not in tail:
        raise IngestError(f"{path.name} is truncated: it does not end with {END_MARKER.decode()}")
    try:
        model = ifcopenshell.open(str(path))
    except ifcopenshell.SchemaError as exc:
        raise IngestError(f"{path.name}: {exc}; CityTwin reads {', '.join(SUPPORTED_SCHEMAS)}") from exc
    except Exception as exc:  # the parser's own error types vary by version
        raise IngestError(f"{path.name} cannot be parsed as IFC: {exc}") from exc
    schema = str(model.schema).upper()
    if not any(schema == s or schema.startswith(s) for s in SUPPORTED_SCHEMAS):
        raise IngestError(f"{path.name} uses schema {model.schema}; CityTwin reads {', '.join(SUPPORTED_SCHEMAS)}")
    if not model.by_type("IfcProject"):
        raise IngestError(f"{path.name} has no IfcProject")
    return model
