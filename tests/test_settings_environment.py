"""The settings read `CITYTWIN_*` variables as pydantic-settings' `BaseSettings` would for the same fields."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from twin.settings import Settings

ENVIRONMENTS = [
    {},
    {"CITYTWIN_PORT": "9100", "CITYTWIN_HOST": "0.0.0.0", "CITYTWIN_MQTT": "false"},
    {"citytwin_database_url": "postgresql://u:p@db:5432/city", "CityTwin_Tile_Cache_MB": "0"},
    {"CITYTWIN_CORS_ORIGINS": '["https://a.example", "https://b.example"]', "CITYTWIN_DRAIN_TIMEOUT_S": "2.5"},
    {"CITYTWIN_DATA_DIR": "/srv/twin", "CITYTWIN_POSTGRES_BIN": "/usr/lib/postgresql/15/bin",
     "CITYTWIN_OPEN_ACCESS": "1", "CITYTWIN_PUBLIC_READ": "yes", "CITYTWIN_UNKNOWN": "ignored", "OTHER_PORT": "1"},
    {"CITYTWIN_IMAGERY_TYPE": "xyz", "CITYTWIN_IMAGERY_URL": "https://t{s}.example/{z}/{x}/{y}.png?tk={token}",
     "CITYTWIN_IMAGERY_TOKEN": "abc", "CITYTWIN_IMAGERY_SUBDOMAINS": "0123"},
]


def _reference() -> type[BaseSettings]:
    """pydantic-settings' model of the same fields and checks."""
    namespace: dict[str, Any] = {"__annotations__": {n: f.annotation for n, f in Settings.model_fields.items()},
                                 "model_config": SettingsConfigDict(env_prefix="CITYTWIN_", extra="ignore")}
    namespace.update(Settings.model_fields)
    return type("Reference", (BaseSettings,), namespace)


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("CITYTWIN_"):
            monkeypatch.delenv(key)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_gives_the_settings_pydantic_settings_would(
        monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    _clear(monkeypatch)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    assert Settings().model_dump() == _reference()().model_dump()


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("CITYTWIN_PORT", "9100")
    monkeypatch.setenv("CITYTWIN_HOST", "0.0.0.0")
    settings = Settings(port=8123)
    assert (settings.port, settings.host) == (8123, "0.0.0.0")
    assert settings.model_copy(update={"port": 1}).port == 1


@pytest.mark.parametrize(("key", "value", "field"), [
    ("CITYTWIN_PORT", "eighty", "port"),
    ("CITYTWIN_MAX_FEATURES_PER_TILE", "0", "max_features_per_tile"),
    ("CITYTWIN_LOG_FORMAT", "xml", "log_format"),
    ("CITYTWIN_CORS_ORIGINS", "not json", "cors_origins"),
    ("CITYTWIN_MQTT", "perhaps", "mqtt"),
])
def test_a_bad_value_in_the_environment_is_refused_naming_its_setting(
        monkeypatch: pytest.MonkeyPatch, key: str, value: str, field: str) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as ours:
        Settings()
    with pytest.raises(ValueError):
        _reference()()
    assert field in str(ours.value)
