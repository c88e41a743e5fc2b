"""`citytwin simulate sensors` against a running server: it creates its sensors and its readings land."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import populated_server
from twin import cli
from twin.settings import Settings


def nothing(engine: Engine) -> None:
    """An empty city: simulated sensors need no objects."""


def test_simulated_sensors_post_readings_at_the_rate_asked_and_they_land(
        server_url: str, template_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with populated_server(server_url, template_database, tmp_path / "server", nothing) as (base, engine):
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False), data_dir=tmp_path / "cli")
        argv = ["simulate", "sensors", "--rate", "400", "--sensors", "50", "--seconds", "3", "--url", base, "--json"]
        code = cli.main(argv, settings_factory=lambda: settings)
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "readings/s" in err  # the once-a-second report
        totals = json.loads(out)
        assert totals["errors"] == 0 and totals["rejected"] == 0 and 1000 <= totals["sent"] <= 1300
        assert totals["accepted"] == totals["sent"]
        assert httpx.get(f"{base}/sensors", params={"limit": 1000}).json()["matched"] == 50
        with engine.connect() as conn:
            landed, sensors = conn.execute(text("SELECT count(*), count(DISTINCT sensor_id) FROM readings")).one()
        assert landed == totals["sent"] and sensors == 50
        code = cli.main(argv[:-1], settings_factory=lambda: settings)  # again: the sensors exist, nothing refused
        assert code == 0


def test_simulated_sensors_publish_over_mqtt_and_the_bridge_lands_every_reading(
        server_url: str, template_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from twin.live.broker import MosquittoBroker

    with populated_server(server_url, template_database, tmp_path / "server", nothing) as (base, engine):
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False),
                            data_dir=tmp_path / "server")  # the server's data directory: its private broker
        assert MosquittoBroker(settings.data_dir).running()
        argv = ["simulate", "sensors", "--rate", "300", "--sensors", "30", "--seconds", "2", "--url", base,
                "--mqtt", "--json"]
        code = cli.main(argv, settings_factory=lambda: settings)
        out, err = capsys.readouterr()
        assert code == 0, err
        sent = json.loads(out)["sent"]
        assert 500 <= sent <= 700
        deadline = time.monotonic() + 15
        while True:
            with engine.connect() as conn:
                landed = conn.execute(text("SELECT count(*) FROM readings")).scalar_one()
            if landed == sent or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert landed == sent
