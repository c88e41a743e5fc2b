"""A demo office building authored with `ifcopenshell.api`: storeys of rooms along a corridor, doors, windows,
a stair and two exits — enough for the viewer's storey filter and the walkable floors that drills use.

The model is georeferenced by its `IfcSite` (RefLatitude/RefLongitude) with true north set so that its x axis
follows the demo district's street grid. Everything is generated; nothing is copied.
"""

from __future__ import annotations

from pathlib import Path

from scenes.ifc_authoring import IfcAuthor

LENGTH, WIDTH = 30.0, 17.0  # outer size in metres (x along the grid, y across)
CORRIDOR = 2.0
STOREY_HEIGHT = 3.5
WALL = 0.3
COLOURS = {"concrete": (0.72, 0.72, 0.70), "plaster": (0.95, 0.93, 0.88), "wood": (0.55, 0.38, 0.22),
           "glass": (0.55, 0.72, 0.85), "floor": (0.80, 0.78, 0.74)}


def generate_building(path: Path, lon: float, lat: float, *, storeys: int = 4, grid_angle_deg: float = 12.0,
                      name: str = "Rathaus-Nord") -> int:
    """Write the demo building as IFC4 to `path`, its origin at lon/lat; returns the number of products."""
    author = IfcAuthor("CityTwin demo", lon, lat, COLOURS, grid_angle_deg=grid_angle_deg)
    building = author.building(name)
    box = author.box
    room_depth = (WIDTH - CORRIDOR) / 2
    rooms_per_side = 3
    room_length = LENGTH / rooms_per_side
    for level in range(storeys):
        z = level * STOREY_HEIGHT
        storey = author.storey(building, f"{level}. OG" if level else "EG", z)
        box("IfcSlab", storey, (LENGTH, WIDTH, 0.25), (0, 0, z - 0.25), "floor", f"Decke {level}",
            PredefinedType="FLOOR")
        height = STOREY_HEIGHT - 0.25
        for y0 in (0.0, WIDTH - WALL):  # long façades with windows
            box("IfcWall", storey, (LENGTH, WALL, height), (0, y0, z), "plaster", "Außenwand")
            for i in range(6):
                box("IfcWindow", storey, (1.6, WALL + 0.04, 1.5), (1.7 + i * 5.0, y0 - 0.02, z + 0.9), "glass",
                    "Fenster")
        for x0 in (WALL, LENGTH):  # gable walls
            box("IfcWall", storey, (WIDTH, WALL, height), (x0, 0, z), "plaster", "Giebelwand", along_y=True)
        corridor_y = room_depth
        for y0 in (corridor_y - WALL / 2, corridor_y + CORRIDOR - WALL / 2):  # corridor walls
            box("IfcWall", storey, (LENGTH, WALL, height), (0, y0, z), "plaster", "Flurwand")
        box("IfcSpace", storey, (LENGTH - 2 * WALL, CORRIDOR - WALL, height), (WALL, corridor_y + WALL / 2, z),
            "floor", f"Flur {level}", LongName="Flur")
        for side, y0 in (("Süd", WALL), ("Nord", corridor_y + CORRIDOR + WALL / 2)):
            depth = room_depth - WALL * 1.5
            for i in range(rooms_per_side):
                x0 = i * room_length
                if i:
                    box("IfcWall", storey, (depth, WALL, height), (x0 + WALL / 2, y0, z), "plaster", "Trennwand",
                        along_y=True)
                box("IfcSpace", storey, (room_length - WALL, depth, height), (x0 + WALL / 2 + 0.05, y0, z),
                    "floor", f"Raum {level}.{side}.{i + 1}", LongName="Büro")
                door_y = corridor_y - WALL / 2 - 0.02 if side == "Süd" else corridor_y + CORRIDOR - WALL / 2 - 0.02
                box("IfcDoor", storey, (0.9, WALL + 0.04, 2.1), (x0 + room_length / 2 - 0.45, door_y, z), "wood",
                    "Bürotür", OverallWidth=0.9, OverallHeight=2.1)
        if level == 0:  # the exits: a door in each gable at the ends of the corridor, the main one by the stair
            box("IfcDoor", storey, (1.0, WALL + 0.04, 2.1), (WALL + 0.02, corridor_y + 0.3, z), "wood",
                "Nebeneingang", along_y=True, OverallWidth=1.0, OverallHeight=2.1)
            box("IfcDoor", storey, (1.2, WALL + 0.04, 2.2), (LENGTH + 0.02, corridor_y + 0.3, z), "wood",
                "Haupteingang", along_y=True, OverallWidth=1.2, OverallHeight=2.2)  # beside the stair
        if level < storeys - 1:  # a stair at the east end of the corridor up to the next storey
            box("IfcStair", storey, (3.0, CORRIDOR - WALL - 0.2, STOREY_HEIGHT),
                (LENGTH - 3.4, corridor_y + 0.25, z), "concrete", f"Treppe {level}",
                PredefinedType="STRAIGHT_RUN_STAIR")
    roof_at = (-0.3, -0.3, storeys * STOREY_HEIGHT - 0.25)
    box("IfcRoof", storey, (LENGTH + 0.6, WIDTH + 0.6, 0.4), roof_at, "concrete", "Dach")
    return author.write(path)
