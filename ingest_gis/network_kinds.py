"""The network types, their marking colours (APWA uniform colour code), default depths and diameter units —
plain constants, light enough for the command line to import before anything heavy loads."""

from __future__ import annotations

NETWORK_TYPES = ("gas", "water", "drainage", "power", "heat", "telecom")
COLORS: dict[str, tuple[int, int, int, int]] = {  # APWA uniform colour code
    "gas": (255, 210, 0, 255), "heat": (230, 150, 0, 255), "power": (220, 30, 30, 255),
    "telecom": (255, 120, 0, 255), "water": (30, 90, 230, 255), "drainage": (30, 150, 60, 255)}
NODE_COLOR = (90, 90, 90, 255)
DEFAULT_DEPTH_M = {"gas": 1.0, "water": 1.5, "drainage": 2.5, "power": 0.8, "heat": 1.0, "telecom": 0.6}
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}
