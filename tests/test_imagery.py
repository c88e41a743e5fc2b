"""Base imagery from settings: settings that cannot work are refused at start with the setting named, and the
served `/viewer/config.json` hands the viewer the service with its token put in (the bundled NaturalEarthII when
none is set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from tests.conftest import serving
from twin.db import Database
from twin.imagery import imagery_config
from twin.settings import Settings


def test_imagery_settings_missing_a_part_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [({"imagery_url": "https://t{s}.tianditu.gov.cn/img_w/wmts?tk={token}"},
                            "CITYTWIN_IMAGERY_TOKEN is not set"),
                           ({"imagery_url": "https://x/{z}/{x}/{y}.png", "imagery_token": "k"}, "has no {token}"),
                           ({"imagery_type": "xyz", "imagery_url": "https://x/tiles.png"}, "needs {z}, {x}"),
                           ({"imagery_type": "wmts", "imagery_url": "https://x/wmts"}, "CITYTWIN_IMAGERY_LAYER"),
                           ({"imagery_url": "https://t{s}.x/{z}/{x}/{y}.png"}, "CITYTWIN_IMAGERY_SUBDOMAINS"),
                           ({"imagery_type": "bing"}, "imagery_type")]
    for wrong, message in cases:
        with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
            Settings(data_dir=tmp_path, **wrong)
    tianditu = Settings(data_dir=tmp_path, imagery_type="wmts", imagery_token="k1",
                        imagery_url="https://t{s}.tianditu.gov.cn/img_w/wmts?tk={token}", imagery_subdomains="01234567",
                        imagery_layer="img", imagery_tile_matrix_set="w", imagery_format="tiles")
    assert imagery_config(tianditu) == {
        "type": "wmts", "url": "https://t{s}.tianditu.gov.cn/img_w/wmts?tk=k1", "bundled": False, "maximum_level": 18,
        "tiling": "mercator", "credit": "", "subdomains": list("01234567"), "layer": "img", "style": "default",
        "tile_matrix_set": "w", "format": "tiles"}
    assert imagery_config(Settings(data_dir=tmp_path)) == {
        "type": "tms", "url": "/viewer/cesium/Assets/Textures/NaturalEarthII", "bundled": True}


def test_the_served_viewer_config_carries_the_configured_imagery_with_its_token(settings: Settings,
                                                                                 engine: Engine) -> None:
    configured = Settings(database_url=settings.database_url, data_dir=settings.data_dir, imagery_type="xyz",
                          imagery_url="https://t{s}.tianditu.gov.cn/DataServer?T=img_w&x={x}&y={y}&l={z}&tk={token}",
                          imagery_token="k2", imagery_subdomains="01234567", imagery_credit="天地图")
    with serving(configured, Database(engine)) as base_url:
        imagery = httpx.get(base_url + "/viewer/config.json", timeout=30).json()["imagery"]
    assert imagery == {"type": "xyz", "url": "https://t{s}.tianditu.gov.cn/DataServer?T=img_w&x={x}&y={y}&l={z}&tk=k2",
                       "bundled": False, "maximum_level": 18, "tiling": "mercator", "credit": "天地图",
                       "subdomains": list("01234567")}
    with serving(settings, Database(engine)) as base_url:
        config = httpx.get(base_url + "/viewer/config.json", timeout=30).json()
        assert config["imagery"] == {"type": "tms", "url": config["imagery_url"], "bundled": True}
        assert httpx.get(base_url + config["imagery"]["url"] + "/tilemapresource.xml", timeout=30).status_code == 200
