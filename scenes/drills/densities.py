"""Peak crowd densities per storey from people's positions frame by frame, measured with PedPy.

- Voronoi (PedPy `compute_individual_voronoi_polygons`): at every frame each person on a storey gets the Voronoi
  cell of their position among everyone on the same connected walkable part, clipped to that part (no cut-off:
  the walls bound the cells); their individual density is 1 / the cell's area. A storey's Voronoi peak is the
  highest individual density over its people and the frames, with when and where (the person's position and
  space).
- Classic (PedPy `compute_classic_density`): people in a space over its floor area, per frame, in every convex
  space of the storey (PedPy measures in convex areas only; spaces that are not convex are left out). A storey's
  classic peak is the highest of them over the frames, with when and in which space.

People on a stair, out of the building or outside every walkable part are not counted. Ties go to the earliest
frame, then the lowest person id (or the first space by id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import Polygon

if TYPE_CHECKING:  # imported where used: a drill worker starts without them and needs them only for its report
    import pandas as pd
    import pedpy

CONVEX_TOLERANCE = 1e-9
"""A space counts as convex when its convex hull exceeds it by no more than this share of its area."""


@dataclass(frozen=True)
class StoreyArea:
    """One storey's connected walkable parts and its spaces (local metres)."""

    storey: str
    parts: tuple[Polygon, ...]
    spaces: Mapping[str, Polygon]


@dataclass
class PositionLog:
    """People's positions frame by frame: per frame its time, and per person id, x, y and storey id."""

    times: list[float] = field(default_factory=list)
    rows: list[tuple[int, NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], list[str]]] = field(
        default_factory=list)

    def add(self, t: float, ids: ArrayLike, x: ArrayLike, y: ArrayLike, storeys: Iterable[str]) -> None:
        frame = len(self.times)
        self.times.append(float(t))
        self.rows.append((frame, np.asarray(ids, dtype=np.int64), np.asarray(x, dtype=np.float64),
                          np.asarray(y, dtype=np.float64), list(storeys)))

    def on(self, storey: str) -> pd.DataFrame:
        """Everyone logged on this storey: columns id, frame, x, y."""
        import pandas as pd
        pieces = []
        for frame, ids, x, y, storeys in self.rows:
            here = np.array([s == storey for s in storeys], dtype=bool)
            if here.any():
                pieces.append(pd.DataFrame({"id": ids[here], "frame": frame, "x": x[here], "y": y[here]}))
        if not pieces:
            return pd.DataFrame({"id": pd.Series(dtype=np.int64), "frame": pd.Series(dtype=np.int64),
                                 "x": pd.Series(dtype=np.float64), "y": pd.Series(dtype=np.float64)})
        return pd.concat(pieces, ignore_index=True)



def _trajectory(data: pd.DataFrame, frame_rate: float) -> pedpy.TrajectoryData:
    import pedpy
    return pedpy.TrajectoryData(data=data.reset_index(drop=True), frame_rate=frame_rate)


def _convex(polygon: Polygon) -> bool:
    return (not polygon.interiors and polygon.area > 0 and
            polygon.convex_hull.area - polygon.area <= CONVEX_TOLERANCE * polygon.area)


def _space_of(spaces: Mapping[str, Polygon], x: float, y: float) -> str | None:
    return next((sid for sid in sorted(spaces) if spaces[sid].covers(shapely.Point(x, y))), None)


def _voronoi_peak(area: StoreyArea, people: pd.DataFrame, frame_rate: float) -> dict[str, Any] | None:
    import pedpy

    best: tuple[float, int, int, float, float] | None = None  # density, frame, id, x, y
    for part in area.parts:
        inside = people[shapely.contains_xy(part, people["x"].to_numpy(), people["y"].to_numpy())]
        if inside.empty:
            continue
        cells = pedpy.compute_individual_voronoi_polygons(traj_data=_trajectory(inside, frame_rate),
                                                          walkable_area=pedpy.WalkableArea(part))
        cells = cells.merge(inside, on=["id", "frame"]).sort_values(["frame", "id"], kind="stable")
        top = cells.iloc[int(np.argmax(cells["density"].to_numpy()))]
        candidate = (float(top["density"]), int(top["frame"]), int(top["id"]), float(top["x"]), float(top["y"]))
        if best is None or (candidate[0], -candidate[1], -candidate[2]) > (best[0], -best[1], -best[2]):
            best = candidate
    if best is None:
        return None
    density, frame, person, x, y = best
    return {"per_m2": density, "frame": frame, "person": person, "x": x, "y": y,
            "space": _space_of(area.spaces, x, y)}


def _classic_peak(area: StoreyArea, people: pd.DataFrame, frame_rate: float) -> dict[str, Any] | None:
    import pedpy

    if people.empty:
        return None
    trajectory = _trajectory(people, frame_rate)
    best: tuple[float, int, str] | None = None  # density, frame, space
    for sid in sorted(area.spaces):
        polygon = area.spaces[sid]
        if not _convex(polygon):
            continue
        density = pedpy.compute_classic_density(traj_data=trajectory,
                                                measurement_area=pedpy.MeasurementArea(polygon.convex_hull))
        values = density["density"].to_numpy()
        if not len(values):
            continue
        at = int(np.argmax(values))
        candidate = (float(values[at]), int(density.index[at]), sid)
        if best is None or (candidate[0], -candidate[1]) > (best[0], -best[1]):
            best = candidate
    if best is None or best[0] <= 0:
        return None
    return {"per_m2": best[0], "frame": best[1], "space": best[2]}


def peak_densities(areas: Iterable[StoreyArea], log: PositionLog, frame_interval_s: float
                   ) -> dict[str, dict[str, Any]]:
    """Per storey id: its Voronoi and classic peaks (None where nobody was measured), times in seconds."""
    frame_rate = 1.0 / frame_interval_s
    out: dict[str, dict[str, Any]] = {}
    for area in areas:
        people = log.on(area.storey)
        voronoi = _voronoi_peak(area, people, frame_rate) if not people.empty else None
        classic = _classic_peak(area, people, frame_rate)
        for peak in (voronoi, classic):
            if peak is not None:
                peak["at_s"] = log.times[peak.pop("frame")]
        out[area.storey] = {"voronoi": voronoi, "classic": classic}
    return out
