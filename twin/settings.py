"""Typed settings read from `CITYTWIN_*` environment variables; built by the CLI or a caller, never at import.

A pydantic model that fills in from the environment what its caller does not give, as pydantic-settings'
`BaseSettings` does for this model (names case-insensitive, lists as JSON; tested against it), without loading
pydantic-settings' sources for files, secrets and clouds (≈0.07 s of CPU at every command's start).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_origin

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.imagery import check_imagery

if TYPE_CHECKING:
    from twin.tilestore_s3 import S3Config

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """`/var/lib/citytwin` for root (a home directory may be closed to the database user), else XDG data."""
    if os.geteuid() == 0:
        return Path("/var/lib/citytwin")
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "citytwin"


ENV_PREFIX = "CITYTWIN_"


def environment_values(fields: dict[str, Any]) -> dict[str, Any]:
    """`CITYTWIN_<FIELD>` variables (any case) by field name, a list field's value decoded as JSON; what does not
    parse is handed on as text, for the model to refuse naming the field."""
    found: dict[str, Any] = {}
    for key, value in os.environ.items():
        if len(key) <= len(ENV_PREFIX) or key[:len(ENV_PREFIX)].upper() != ENV_PREFIX:
            continue
        name = key[len(ENV_PREFIX):].lower()
        field = fields.get(name)
        if field is None:
            continue
        if get_origin(field.annotation) is list:
            try:
                found[name] = orjson.loads(value)
            except orjson.JSONDecodeError:
                found[name] = value
        else:
            found[name] = value
    return found


class Settings(BaseModel):
    """Everything CityTwin can be configured with: keyword arguments first, then `CITYTWIN_*` variables."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, given: Any) -> Any:
        if not isinstance(given, dict):
            return given
        return {**environment_values(cls.model_fields), **given}

    database_url: str | None = Field(
        default=None,
        description="External PostGIS URL (postgresql://…); unset runs a private embedded cluster.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Embedded cluster and working files.")
    embedded_port: int = Field(default=0, description="Port of the embedded cluster; 0 picks a free one.")
    postgres_bin: Path | None = Field(default=None, description="Directory with initdb/pg_ctl; found if unset.")
    db_user: str = Field(default="citytwin", description="Unprivileged OS user the embedded cluster runs as "
                                                         "when CityTwin runs as root.")
    host: str = "127.0.0.1"
    port: int = 8000
    web_viewer_dir: Path = PROJECT_ROOT / "web_viewer"
    imagery_type: str = Field(default="tms", pattern="^(tms|xyz|wmts)$", description="Base imagery service: 'xyz' "
                              "(a {z}/{x}/{y} or {reverseY} template), 'wmts' (KVP or REST) or 'tms' (a folder with "
                              "tilemapresource.xml).")
    imagery_url: str | None = Field(default=None, description="Base imagery URL or template, {token} standing for "
                                    "CITYTWIN_IMAGERY_TOKEN and {s} for a subdomain; unset: the bundled "
                                    "NaturalEarthII (offline).")
    imagery_token: str | None = Field(default=None, description="Key put in for {token} (天地图's tk).")
    imagery_subdomains: str = Field(default="", description="Subdomains {s} cycles through: one character each "
                                    "('01234567') or comma-separated ('a,b,c').")
    imagery_layer: str = Field(default="", description="WMTS layer (天地图: img, vec, ter…).")
    imagery_style: str = Field(default="default", description="WMTS style.")
    imagery_tile_matrix_set: str = Field(default="", description="WMTS tile matrix set (天地图: 'w' mercator, "
                                         "'c' geographic).")
    imagery_format: str = Field(default="image/jpeg", description="WMTS image format (天地图: 'tiles').")
    imagery_tiling: str = Field(default="mercator", pattern="^(mercator|geographic)$",
                                description="Tiling scheme of xyz/wmts imagery: web mercator or geographic.")
    imagery_max_level: int = Field(default=18, ge=0, le=24, description="Deepest level the imagery serves.")
    imagery_credit: str = Field(default="", description="Attribution shown on the globe.")

    @model_validator(mode="after")
    def _imagery_complete(self) -> Settings:
        check_imagery(self)
        return self

    max_features_per_tile: int = Field(default=400, ge=1, le=65535)
    tile_store: str = Field(default="postgis", description="Where tile content lives: 'postgis', 'files' or 's3'.")
    tile_dir: Path | None = Field(default=None, description="Folder of the 'files' tile store.")
    s3_endpoint: str | None = Field(default=None, description="S3 endpoint URL of the 's3' tile store "
                                    "(http://host:8333 for SeaweedFS/MinIO); unset means AWS.")
    s3_bucket: str = Field(default="citytwin-tiles", description="Bucket of the 's3' tile store (created if missing).")
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket, ending in '/' (e.g. 'city/').")
    s3_region: str = Field(default="us-east-1", description="Region of the 's3' tile store.")
    s3_access_key: str | None = Field(default=None, description="S3 access key; unset uses the AWS chain.")
    s3_secret_key: str | None = Field(default=None, description="S3 secret key; unset uses the AWS chain.")
    tile_cache_mb: int = Field(default=256, ge=0, description="Per-worker cache of served tile entries.")
    max_upload_mb: int = Field(default=2048, ge=1, description="Largest ingest upload accepted over HTTP.")
    max_body_kb: int = Field(default=10_240, ge=1, description="Largest request body of any other route.")
    cors_origins: list[str] = ["*"]
    bus_url: str | None = Field(default=None, description="Redis URL of the live bus shared by workers "
                                                          "(redis://…); unset keeps it in-process.")
    mqtt: bool = Field(default=True, description="Take readings over MQTT (the bridge; a private mosquitto "
                                                 "when no CITYTWIN_MQTT_URL is set).")
    mqtt_url: str | None = Field(default=None, description="MQTT broker the readings bridge subscribes to "
                                                           "(mqtt://user:pass@host:1883, mqtts://…); unset runs a "
                                                           "private mosquitto on a loopback port.")
    mqtt_shared: bool = Field(default=False, description="Share the readings subscription ($share/citytwin/…) with "
                              "other servers or workers, each message going to one; `serve --workers N` sets it.")
    reading_retention_days: int = Field(default=30, ge=1, le=3650, description="Days of readings kept "
                                                                             "(daily partitions dropped after).")
    max_readings_per_batch: int = Field(default=10_000, ge=1, description="Most readings in one batch (else 413).")
    live_outbox_limit: int = Field(default=10_000, ge=10, description="Alarms, events and status changes a "
                                   "websocket client may lag behind before it is closed with a resume point.")
    log_format: str = Field(default="text", pattern="^(text|json)$", description="Log lines: 'text' (uvicorn's "
                            "usual) or 'json' (one object per line, with access records per request).")
    drain_timeout_s: float = Field(default=10.0, gt=0, le=600, description="At SIGTERM: longest wait for "
                                   "websocket clients to be told to reconnect, and again for requests under way.")
    open_access: bool = Field(default=False, description="Serve on a non-loopback address without API keys "
                              "(everyone may do everything): only when something in front guards it.")
    public_read: bool = Field(default=False, description="With keys in force, requests without a key may still "
                              "read (the viewer role).")
    rate_limit_per_s: float = Field(default=50.0, ge=0, description="Requests per second per API key (or per "
                                    "client address without one) once keys are in force; 0 turns it off.")
    rate_limit_burst: int = Field(default=200, ge=1, description="Requests a key may send at once above its rate.")
    ws_max_message_kb: int = Field(default=1024, ge=1, description="Largest websocket message a client may send.")
    ws_messages_per_s: float = Field(default=50.0, gt=0, description="Messages per second a websocket client may "
                                     "send (burst: ws_message_burst); more are answered with an error, not run.")
    ws_message_burst: int = Field(default=200, ge=1, description="Messages a websocket client may send at once.")
    alarm_event_level: str = Field(default="orange", pattern="^(blue|yellow|orange|red)$",
                                   description="Alarm level at which an alarm opens an event on its object.")

    def s3_config(self) -> S3Config:
        """The 's3' tile store's bucket, endpoint and keys."""
        from twin.tilestore_s3 import S3Config
        return S3Config(bucket=self.s3_bucket, endpoint=self.s3_endpoint, access_key=self.s3_access_key,
                        secret_key=self.s3_secret_key, region=self.s3_region, prefix=self.s3_prefix)

    @property
    def embedded(self) -> bool:
        return not self.database_url
