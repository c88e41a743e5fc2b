"""A small hand-made twin next to the ingested footprints: a house with storeys and rooms, and street furniture.

The house is a 20 m × 20 m square of three 3 m storeys; storey 1 (3–6 m) has a west and an east room. Hydrants
stand on a line east of it, 50 m apart; a fire station is a polygon 400 m north.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, text

HOUSE_LON, HOUSE_LAT = 13.4300, 52.5300
"""South-west corner of the house."""
DLON, DLAT = 20 / 67_800, 20 / 111_260  # 20 m at 52.53° N
EAST_ROOM_CENTRE = (HOUSE_LON + 0.75 * DLON, HOUSE_LAT + 0.5 * DLAT)
HYDRANT_METRES = (50, 100, 150, 200, 250)


def _box(x1: float, y1: float, x2: float, y2: float) -> str:
    return f"SRID=4326;POLYGON(({x1} {y1},{x2} {y1},{x2} {y2},{x1} {y2},{x1} {y1}))"


def add_house_and_street(engine: Engine) -> None:
    x1, y1, x2, y2 = HOUSE_LON, HOUSE_LAT, HOUSE_LON + DLON, HOUSE_LAT + DLAT
    xm = (x1 + x2) / 2
    rows = [
        ("house.b", "house", "building", "Test house", None, _box(x1, y1, x2, y2), 0, 9, {"use": "school"}),
        *[(f"house.s{i}", "house", "storey", f"Storey {i}", "house.b", _box(x1, y1, x2, y2), 3 * i, 3 * i + 3,
           {"level": i}) for i in range(3)],
        ("house.s1.west", "house", "space", "West room", "house.s1", _box(x1, y1, xm, y2), 3, 6, {"area": 200}),
        ("house.s1.east", "house", "space", "East room", "house.s1", _box(xm, y1, x2, y2), 3, 6, {"area": 200}),
    ]
    east = 1 / 67_800  # degrees per metre eastwards
    for i, metres in enumerate(HYDRANT_METRES):
        rows.append((f"street.h{i}", "street", "hydrant", f"Hydrant {i}", None,
                     f"SRID=4326;POINT({x2 + metres * east} {(y1 + y2) / 2})", 0, 1, {"pressure_bar": 4 + i}))
    north = 400 / 111_260
    rows.append(("street.fire", "street", "fire_station", "Fire station", None,
                 _box(x1, y1 + north, x2, y2 + north), 0, 8, {"vehicles": 3}))
    with engine.begin() as conn:
        for name in ("house", "street"):
            conn.execute(text("INSERT INTO datasets (id, name, kind, source, object_count) "
                              "VALUES (:n, :n, 'handmade', 'tests', 0)"), {"n": name})
        for row in rows:
            conn.execute(text(
                "INSERT INTO twin_objects (id, dataset_id, kind, name, parent_id, footprint, zmin, zmax, attributes) "
                "VALUES (:id, :ds, :kind, :name, :parent, ST_GeomFromEWKT(:geom), :zmin, :zmax, CAST(:attrs AS jsonb))"
            ), {"id": row[0], "ds": row[1], "kind": row[2], "name": row[3], "parent": row[4], "geom": row[5],
                "zmin": row[6], "zmax": row[7], "attrs": orjson.dumps(row[8]).decode()})
        conn.execute(text("UPDATE datasets d SET object_count = (SELECT count(*) FROM twin_objects o "
                          "WHERE o.dataset_id = d.id), extent = (SELECT ST_Envelope(ST_Collect(footprint)) "
                          "FROM twin_objects o WHERE o.dataset_id = d.id) WHERE d.kind = 'handmade'"))
