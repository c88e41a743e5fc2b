"""Pre-release IFC4X3 schema names (IFC4X3_RC2, IFC4X3_RC3 …) are read as IFC4X3, or refused naming the entity."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ingest_bim.model import open_model
from ingest_bim.prerelease import header_schema, is_ifc4x3_alias
from ingest_gis.records import IngestError
from scenes.ifc_authoring import IfcAuthor
from twin.ingest import ingest_ifc

TABLES = ("datasets", "twin_objects", "tilesets", "tiles", "building_floors")


def _ifc4x3(path: Path) -> Path:
    author = IfcAuthor("Bridge office", 151.2, -33.87, {"grey": (0.6, 0.6, 0.6), "wood": (0.6, 0.4, 0.2)},
                       schema="IFC4X3")
    storey = author.storey(author.building("Office"), "Ground", 0.0)
    author.box("IfcSlab", storey, (8.0, 6.0, 0.3), (0.0, 0.0, -0.3), "grey")
    author.box("IfcWall", storey, (8.0, 0.2, 3.0), (0.0, 0.0, 0.0), "grey")
    author.box("IfcDoor", storey, (0.9, 0.1, 2.1), (3.0, 0.05, 0.0), "wood")
    author.write(path)
    return path


def _with_schema(source: Path, target: Path, schema: str, extra_data: str = "") -> Path:
    """`source` with its header's FILE_SCHEMA renamed and `extra_data` lines added at the end of DATA."""
    body = source.read_text()
    assert "FILE_SCHEMA(('IFC4X3_ADD2'));" in body
    body = body.replace("FILE_SCHEMA(('IFC4X3_ADD2'));", f"FILE_SCHEMA(('{schema}'));")
    head, tail = body.rsplit("ENDSEC;", 1)
    target.write_text(f"{head}{extra_data}ENDSEC;{tail}")
    return target


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def test_ifc4x3_names_other_than_the_final_one_are_aliases() -> None:
    assert [is_ifc4x3_alias(s) for s in ("IFC4X3_RC2", "IFC4X3_RC3", "IFC4X3", "IFC4X3_TC1")] == [True] * 4
    assert [is_ifc4x3_alias(s) for s in ("IFC4X3_ADD2", "IFC4", "IFC2X3", "IFC4X1", "IFC4X3_FOO")] == [False] * 5


@pytest.mark.parametrize("schema", ["IFC4X3_RC2", "IFC4X3_RC3"])
def test_a_pre_release_ifc4x3_file_ingests_like_the_same_file_as_ifc4x3(engine: Engine, tmp_path: Path,
                                                                        schema: str) -> None:
    final = _ifc4x3(tmp_path / "final.ifc")
    early = _with_schema(final, tmp_path / "early.ifc", schema)
    assert header_schema(early) == schema
    reference = ingest_ifc(engine, final, "final")
    summary = ingest_ifc(engine, early, "early")
    assert summary["schema"] == "IFC4X3" and summary["objects"] == reference["objects"] == 6
    assert summary["elements_in_tiles"] == reference["elements_in_tiles"] == 3
    assert summary["warnings"][0] == f"the header names the schema {schema}; read as IFC4X3"
    with engine.connect() as conn:
        footprints = [set(conn.execute(text("SELECT attributes->>'GlobalId', ST_AsText(footprint) FROM twin_objects "
                                            "WHERE dataset_id = :d"), {"d": d}).all()) for d in ("final", "early")]
    assert footprints[0] == footprints[1]


def test_a_pre_release_file_with_an_entity_ifc4x3_lacks_is_refused_naming_it(engine: Engine, tmp_path: Path
                                                                             ) -> None:
    final = _ifc4x3(tmp_path / "final.ifc")
    broken = _with_schema(final, tmp_path / "rc2.ifc", "IFC4X3_RC2",
                          "#90001=IFCALIGNMENT2DHORIZONTAL($,(#90002));\n"
                          "#90002=IFCALIGNMENT2DHORIZONTALSEGMENT($,$,$,$);\n")
    ingest_ifc(engine, final, "keep")
    before = _counts(engine)
    with pytest.raises(IngestError, match=r"rc2\.ifc \(schema IFC4X3_RC2\) cannot be read as IFC4X3: its entity "
                                          r"IFCALIGNMENT2DHORIZONTAL \(#90001\) does not exist in IFC4X3"):
        ingest_ifc(engine, broken, "broken")
    assert _counts(engine) == before


def test_a_pre_release_file_whose_entity_has_other_attributes_is_refused_naming_it(tmp_path: Path) -> None:
    broken = _with_schema(_ifc4x3(tmp_path / "final.ifc"), tmp_path / "rc3.ifc", "IFC4X3_RC3",
                          "#90001=IFCWALL('0aaaaaaaaaaaaaaaaaaaaa',$,'old',$,$,$,$);\n")
    with pytest.raises(IngestError, match=r"its IfcWall #90001 has 7 attributes where IFC4X3 has 9"):
        open_model(broken)


def test_a_schema_that_is_no_ifc4x3_alias_is_still_refused_with_the_schemas_read(tmp_path: Path) -> None:
    other = _with_schema(_ifc4x3(tmp_path / "final.ifc"), tmp_path / "x1.ifc", "IFC4X1")
    with pytest.raises(IngestError, match=r"IFC4X1.*CityTwin reads IFC2X3, IFC4, IFC4X3"):
        open_model(other)
