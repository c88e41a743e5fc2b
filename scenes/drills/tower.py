"""A generated office tower for evacuation tests and `bench drills`, authored with `scenes.ifc_authoring`: per storey
a corridor along the building with offices on both sides, a door per office, a stair at each end of the corridor
up to the next storey, and on the ground floor an exit at each end. Door widths come from the door geometry (no
OverallWidth), so the walkable analysis measures them. Everything is generated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scenes.drills.site import BuildingSite
from scenes.ifc_authoring import IfcAuthor

LENGTH, WIDTH = 36.0, 17.0  # outer size, metres
CORRIDOR = 2.4
STOREY_HEIGHT = 3.5
WALL = 0.3
ROOMS_PER_SIDE = 4
STAIR_LENGTH = 3.0
DOOR_WIDTH, EXIT_WIDTH = 1.0, 1.6
COLOURS = {"concrete": (0.72, 0.72, 0.70), "plaster": (0.95, 0.93, 0.88), "wood": (0.55, 0.38, 0.22),
           "floor": (0.80, 0.78, 0.74)}


def generate_tower(path: Path, storeys: int = 10, *, lon: float = 13.40, lat: float = 52.52) -> int:
    """Write the tower as IFC4 to `path`; returns the number of products."""
    author = IfcAuthor("Drill tower", lon, lat, COLOURS)
    building = author.building("Tower")
    box = author.box
    depth = (WIDTH - CORRIDOR) / 2
    room = LENGTH / ROOMS_PER_SIDE
    corridor_y = depth
    height = STOREY_HEIGHT - 0.25
    for level in range(storeys):
        z = level * STOREY_HEIGHT
        storey = author.storey(building, f"Level {level}", z)
        box("IfcSlab", storey, (LENGTH, WIDTH, 0.25), (0, 0, z - 0.25), "floor", f"Floor {level}",
            PredefinedType="FLOOR")
        for y0 in (0.0, WIDTH - WALL):
            box("IfcWall", storey, (LENGTH, WALL, height), (0, y0, z), "plaster", "Facade")
        for x0 in (WALL, LENGTH):
            box("IfcWall", storey, (WIDTH, WALL, height), (x0, 0, z), "plaster", "Gable", along_y=True)
        for y0 in (corridor_y - WALL / 2, corridor_y + CORRIDOR - WALL / 2):
            box("IfcWall", storey, (LENGTH, WALL, height), (0, y0, z), "plaster", "Corridor wall")
        box("IfcSpace", storey, (LENGTH - 2 * WALL, CORRIDOR - WALL, height), (WALL, corridor_y + WALL / 2, z),
            "floor", f"Corridor {level}", LongName="Corridor")
        for side, y0 in (("S", WALL), ("N", corridor_y + CORRIDOR + WALL / 2)):
            room_depth = depth - WALL * 1.5
            for i in range(ROOMS_PER_SIDE):
                x0 = i * room
                if i:
                    box("IfcWall", storey, (room_depth, WALL, height), (x0 + WALL / 2, y0, z), "plaster", "Partition",
                        along_y=True)
                box("IfcSpace", storey, (room - WALL, room_depth, height), (x0 + WALL / 2 + 0.05, y0, z), "floor",
                    f"Office {level}.{side}{i + 1}", LongName="Office")
                door_y = corridor_y - WALL / 2 - 0.02 if side == "S" else corridor_y + CORRIDOR - WALL / 2 - 0.02
                box("IfcDoor", storey, (DOOR_WIDTH, WALL + 0.04, 2.1), (x0 + room / 2 - DOOR_WIDTH / 2, door_y, z),
                    "wood", "Office door")
        if level == 0:
            for x0 in (WALL + 0.02, LENGTH + 0.02):
                box("IfcDoor", storey, (EXIT_WIDTH, WALL + 0.04, 2.2), (x0, corridor_y + 0.4, z), "wood",
                    "Exit", along_y=True)
        if level < storeys - 1:
            for end, x0 in enumerate((WALL + 0.4, LENGTH - WALL - 0.4 - STAIR_LENGTH)):
                _stair(author, storey, f"Stair {level}.{end + 1}", x0, corridor_y + 0.45, z, CORRIDOR - WALL - 0.6)
    return author.write(path)


def _stair(author: IfcAuthor, storey: Any, name: str, x0: float, y0: float, z: float, width: float) -> None:
    """An IfcStair of two flights: its first step at the foot and its last step at the head, STAIR_LENGTH apart
    in plan, so the walkable analysis finds where the stair starts and ends."""
    api, file = author.api, author.file
    stair = api.run("root.create_entity", file, ifc_class="IfcStair", name=name)
    api.run("spatial.assign_container", file, relating_structure=storey, products=[stair])
    step = width + 0.1  # longer than wide: the analysis takes a flight's narrower side as the stair width
    flights = [author.box("IfcStairFlight", storey, (step, width, 0.3), (x0, y0, z), "concrete", f"{name} foot"),
               author.box("IfcStairFlight", storey, (step, width, 0.3),
                          (x0 + STAIR_LENGTH - step, y0, z + STOREY_HEIGHT - 0.3), "concrete", f"{name} head")]
    for flight in flights:
        api.run("spatial.unassign_container", file, products=[flight])
    api.run("aggregate.assign_object", file, relating_object=stair, products=flights)
    author.products += 1


def tower_occupants(site: BuildingSite, per_storey: int = 100) -> dict[str, int]:
    """`per_storey` people on every storey of a tower's site: 4 in the corridor, the rest shared by the offices."""
    occupants = {}
    for storey in site.storeys:
        spaces = sorted(site.spaces_of(storey.id), key=lambda s: s.id)
        offices = [s for s in spaces if s.name and s.name.startswith("Office")]
        corridor = [s for s in spaces if s not in offices]
        occupants[corridor[0].id] = min(4, per_storey)
        rest = per_storey - occupants[corridor[0].id]
        for k, office in enumerate(offices):
            occupants[office.id] = rest // len(offices) + (k < rest % len(offices))
    return occupants
