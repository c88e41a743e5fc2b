"""Opening an IFC file (refusing what cannot be ingested, with a message that says why) and starting its geometry
iterator. Light on imports on purpose: the command line starts the iterator before it loads anything else."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import ifcopenshell
import ifcopenshell.geom

from ingest_bim.prerelease import header_schema, is_ifc4x3_alias, open_as_ifc4x3
from ingest_gis.records import IngestError

SUPPORTED_SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3")
END_MARKER = b"END-ISO-10303-21;"
NOT_DRAWN = ("IfcOpeningElement", "IfcOpeningStandardCase", "IfcVirtualElement", "IfcAnnotation",
             "IfcGrid", "IfcAlignment")
# CGAL with a floating-point kernel, OpenCASCADE for what it cannot do: several times faster than OpenCASCADE
# alone, and its shells are consistently wound
GEOMETRY_LIBRARY: Final[Literal["hybrid-cgal-simple-opencascade"]] = "hybrid-cgal-simple-opencascade"
# The multicore iterator's coordinating thread polls its workers without sleeping while all of them are busy, so
# it takes as much CPU as any one of them: with as many workers as cores (2 on a small machine) that is a third of
# the CPU. At least this many workers keep its share at most 1/17 (two cores: ≈30 % less CPU for the same shapes).
MIN_ITERATOR_THREADS = 16


def open_model(path: str | Path) -> ifcopenshell.file:
    """Open an IFC-SPF file; IngestError for a missing, truncated, non-IFC or unsupported-schema file. IFC4X3
    pre-release and alias schema names are read as IFC4X3 (`prerelease.py`)."""
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
    declared = header_schema(path)
    if declared is not None and is_ifc4x3_alias(declared):
        return _checked(path, open_as_ifc4x3(path, declared))
    try:
        model = ifcopenshell.open(str(path))
    except ifcopenshell.SchemaError as exc:
        raise IngestError(f"{path.name}: {exc}; CityTwin reads {', '.join(SUPPORTED_SCHEMAS)}") from exc
    except Exception as exc:  # the parser's own error types vary by version
        raise IngestError(f"{path.name} cannot be parsed as IFC: {exc}") from exc
    return _checked(path, model)


def _checked(path: Path, model: ifcopenshell.file) -> ifcopenshell.file:
    schema = str(model.schema).upper()
    if not any(schema == s or schema.startswith(s) for s in SUPPORTED_SCHEMAS):
        raise IngestError(f"{path.name} uses schema {model.schema}; CityTwin reads {', '.join(SUPPORTED_SCHEMAS)}")
    if not model.by_type("IfcProject"):
        raise IngestError(f"{path.name} has no IfcProject")
    return model


def iterator_settings() -> ifcopenshell.geom.settings:
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    settings.set("weld-vertices", True)
    settings.set("apply-default-materials", True)
    return settings


def iterator_threads(cores: int | None = None) -> int:
    """Worker threads of the iterator for `cores` (default: all): one core computes in the caller's thread (1),
    more get at least MIN_ITERATOR_THREADS workers."""
    cores = cores or multiprocessing.cpu_count()
    return 1 if cores == 1 else max(cores, MIN_ITERATOR_THREADS)


def make_iterator(model: ifcopenshell.file, cores: int | None = None) -> ifcopenshell.geom.iterator | None:
    """The multicore geometry iterator over every drawn product, already computing; None when nothing has geometry."""
    iterator = ifcopenshell.geom.iterator(iterator_settings(), model, iterator_threads(cores),
                                          exclude=list(NOT_DRAWN), geometry_library=GEOMETRY_LIBRARY)
    return iterator if iterator.initialize() else None


@dataclass
class OpenedModel:
    """A parsed model whose geometry iterator already computes shapes on its own threads."""

    path: Path
    model: ifcopenshell.file
    iterator: ifcopenshell.geom.iterator | None  # None: nothing to draw
    notes: list[str] = field(default_factory=list)  # for the dataset's warnings

    def close(self, *, in_background: bool = False) -> None:
        """Stop the iterator's threads, or free a drained iterator. One still computing when the interpreter
        exits crashes it (a command failing after the model opened, e.g. on an unreachable database, would end
        in a segfault). Freeing a drained one's geometry takes ≈0.15 s for 20,000 shapes without holding the GIL:
        `in_background` leaves that to a thread of its own (the interpreter waits for it before exiting)."""
        iterator, self.iterator = self.iterator, None
        if in_background and iterator is not None:
            last_reference = [iterator]
            del iterator
            threading.Thread(target=last_reference.clear, name="citytwin-iterator-free").start()


def open_geometry(path: str | Path, *, cores: int | None = None) -> OpenedModel:
    """Open `path` and start the geometry iterator, so that the caller can do other work while it runs."""
    path = Path(path)
    model = open_model(path)
    declared = header_schema(path)
    notes = ([f"the header names the schema {declared}; read as IFC4X3"]
             if declared is not None and is_ifc4x3_alias(declared) else [])
    return OpenedModel(path, model, make_iterator(model, cores), notes)


@dataclass
class ModelOpening:
    """`open_geometry` under way on a thread of its own. Parsing the file and starting the iterator release the
    GIL, so the caller loads its settings meanwhile; `result` waits for the model (re-raising what went wrong)."""

    future: Future[OpenedModel]

    @classmethod
    def start(cls, path: str | Path, *, cores: int | None = None) -> ModelOpening:
        future: Future[OpenedModel] = Future()

        def run() -> None:
            try:
                future.set_result(open_geometry(path, cores=cores))
            except BaseException as exc:  # handed to whoever waits for the model
                future.set_exception(exc)

        threading.Thread(target=run, name="citytwin-ifc-open").start()
        return cls(future)

    def result(self) -> OpenedModel:
        return self.future.result()

    def close(self) -> None:
        """Wait for the opening to end, then stop its iterator (`OpenedModel.close`); a failed opening has none."""
        if self.future.exception() is None:
            self.future.result().close()
