"""Generated twin objects written by PostgreSQL itself (generate_series), for query benchmarks and plan tests.

`n` objects on a grid of ≈20 m cells around Berlin: rectangular buildings with heights and attributes; every
100th object is a hydrant (a point) and every 1000th (offset 1) a camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Engine, text

LON0, LAT0 = 13.30, 52.45
STEP_LON, STEP_LAT = 0.00030, 0.00018  # ≈20 m × 20 m


@dataclass(frozen=True)
class Grid:
    n: int
    side: int

    def cell(self, i: int) -> tuple[float, float]:
        """South-west corner of object i's cell."""
        return LON0 + (i % self.side) * STEP_LON, LAT0 + (i // self.side) * STEP_LAT

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        rows = math.ceil(self.n / self.side)
        return LON0, LAT0, LON0 + self.side * STEP_LON, LAT0 + rows * STEP_LAT


def create_synthetic(engine: Engine, n: int, name: str = "synthetic", seed: float = 0.25) -> Grid:
    """Insert dataset `name` with `n` objects; buildings fill 40–80 % of their cell, 6–60 m high."""
    grid = Grid(n, math.ceil(math.sqrt(n)))
    width = len(str(n))
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
        conn.execute(text(
            "INSERT INTO datasets (id, name, kind, source, object_count, extent) "
            "VALUES (:name, :name, 'synthetic', 'generated', :n, ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326))"
        ), {"name": name, "n": n, **dict(zip(("x1", "y1", "x2", "y2"), grid.bounds, strict=True))})
        conn.execute(text(f"""
            INSERT INTO twin_objects (id, dataset_id, kind, name, parent_id, footprint, zmin, zmax, attributes)
            SELECT :name || '.' || lpad(i::text, {width}, '0'), :name, kind, NULL, NULL,
                   CASE WHEN kind = 'building'
                        THEN ST_MakeEnvelope(x, y, x + w * :sx, y + h * :sy, 4326)
                        ELSE ST_SetSRID(ST_MakePoint(x + :sx / 2, y + :sy / 2), 4326) END,
                   0, CASE WHEN kind = 'building' THEN height ELSE 1 END,
                   CASE WHEN kind = 'building'
                        THEN jsonb_build_object('height', height, 'levels', greatest(1, floor(height / 3)),
                                                'use', (ARRAY['residential', 'commercial', 'school'])[1 + i % 3])
                        ELSE jsonb_build_object('operator', 'city') END
            FROM (
                SELECT i, :lon0 + (i % :side) * :sx AS x, :lat0 + (i / :side) * :sy AS y,
                       0.4 + random() * 0.4 AS w, 0.4 + random() * 0.4 AS h, round((6 + random() * 54)::numeric, 1)
                       ::float8 AS height,
                       CASE WHEN i % 100 = 0 THEN 'hydrant' WHEN i % 1000 = 1 THEN 'camera' ELSE 'building' END
                       AS kind
                FROM generate_series(0, :n - 1) AS i
            ) AS g
        """), {"name": name, "n": n, "side": grid.side, "lon0": LON0, "lat0": LAT0, "sx": STEP_LON,
               "sy": STEP_LAT})
    # vacuumed and analysed now, as a settled city database is, so autovacuum does not start during the timing
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) twin_objects"))
        conn.execute(text("VACUUM (ANALYZE) datasets"))
    return grid
