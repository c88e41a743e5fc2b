"""The viewer's base imagery from settings: an XYZ, WMTS or TMS service with its token put in, or the bundled
NaturalEarthII (offline) when none is configured."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.settings import Settings

BUNDLED_IMAGERY = "/viewer/cesium/Assets/Textures/NaturalEarthII"
_XYZ_PLACES = re.compile(r"\{(z|x|y|reverseY)\}")
_WMTS_PLACES = re.compile(r"\{(TileMatrix|TileRow|TileCol)\}")


def check_imagery(settings: Settings) -> None:
    """Raise a ValueError naming the setting when the configured imagery cannot work."""
    url = settings.imagery_url
    if url is None:
        return
    if not url.strip():
        raise ValueError("CITYTWIN_IMAGERY_URL is empty: unset it for the bundled imagery")
    if "{token}" in url and not settings.imagery_token:
        raise ValueError("CITYTWIN_IMAGERY_URL has {token} but CITYTWIN_IMAGERY_TOKEN is not set")
    if settings.imagery_token and "{token}" not in url:
        raise ValueError("CITYTWIN_IMAGERY_TOKEN is set but CITYTWIN_IMAGERY_URL has no {token} to put it in")
    if "{s}" in url and not settings.imagery_subdomains:
        raise ValueError("CITYTWIN_IMAGERY_URL has {s} but CITYTWIN_IMAGERY_SUBDOMAINS is not set")
    kind = settings.imagery_type
    if kind == "xyz" and {"z", "x"} - set(_XYZ_PLACES.findall(url)):
        raise ValueError("CITYTWIN_IMAGERY_URL of an 'xyz' service needs {z}, {x} and {y} (or {reverseY})")
    if kind == "wmts":
        if not settings.imagery_layer or not settings.imagery_tile_matrix_set:
            raise ValueError("a 'wmts' service needs CITYTWIN_IMAGERY_LAYER and CITYTWIN_IMAGERY_TILE_MATRIX_SET")
        rest = set(_WMTS_PLACES.findall(url))
        if rest and rest != {"TileMatrix", "TileRow", "TileCol"}:
            raise ValueError("CITYTWIN_IMAGERY_URL of a REST 'wmts' service needs {TileMatrix}, {TileRow} and "
                             "{TileCol}")


def imagery_config(settings: Settings) -> dict[str, Any]:
    """What the viewer needs to build its base layer (`type`, `url` with the token put in, and the service's
    parameters)."""
    if settings.imagery_url is None:
        return {"type": "tms", "url": BUNDLED_IMAGERY, "bundled": True}
    url = settings.imagery_url.replace("{token}", settings.imagery_token or "")
    config: dict[str, Any] = {"type": settings.imagery_type, "url": url, "bundled": False,
                              "maximum_level": settings.imagery_max_level, "tiling": settings.imagery_tiling,
                              "credit": settings.imagery_credit}
    if settings.imagery_subdomains:
        names = settings.imagery_subdomains
        config["subdomains"] = names.split(",") if "," in names else list(names)
    if settings.imagery_type == "wmts":
        config.update(layer=settings.imagery_layer, style=settings.imagery_style,
                      tile_matrix_set=settings.imagery_tile_matrix_set, format=settings.imagery_format)
    return config
