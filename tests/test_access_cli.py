"""`citytwin keys create|list|revoke` on a real PostGIS, and `serve` refusing a non-loopback address without keys."""

from __future__ import annotations

import orjson
import pytest

from twin import cli
from twin.access.keys import split_token, verify_secret
from twin.access.store import load_keys
from twin.cli_keys import exposure_refusal
from twin.db import create_db_engine
from twin.settings import Settings


def _run(argv: list[str], settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv, settings_factory=lambda: settings)
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())  # rich wraps long lines


def test_keys_are_created_with_their_secret_shown_once_listed_without_it_and_revoked(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["keys", "create", "--role", "operator", "--name", "control room"], settings, capsys)
    assert code == 0 and "shown this once" in err
    token = out.strip()
    key_id, secret = split_token(token)
    code, out, _ = _run(["keys", "create", "--role", "device", "--sensors", "S1, S2", "--json"], settings, capsys)
    device = orjson.loads(out)
    assert code == 0 and device["role"] == "device" and device["key"].startswith(f"ctk_{device['id']}_")
    code, out, _ = _run(["keys", "list", "--json"], settings, capsys)
    listed = orjson.loads(out)
    assert [(k["id"], k["role"], k["name"], k["sensors"]) for k in listed] == [
        (key_id, "operator", "control room", []), (device["id"], "device", "", ["S1", "S2"])]
    assert secret not in out and token not in out
    assert settings.database_url is not None
    engine = create_db_engine(settings.database_url)
    try:
        stored = {k.key_id: k for k in load_keys(engine)}
    finally:
        engine.dispose()
    assert verify_secret(secret, stored[key_id].secret_hash) and secret not in stored[key_id].secret_hash
    assert _run(["keys", "revoke", key_id], settings, capsys)[0] == 0
    code, _, err = _run(["keys", "revoke", key_id], settings, capsys)
    assert code == 1 and "no active key" in err
    code, out, _ = _run(["keys", "list", "--json"], settings, capsys)
    assert [k["id"] for k in orjson.loads(out)] == [device["id"]]
    code, out, _ = _run(["keys", "list", "--all", "--json"], settings, capsys)
    assert [k["revoked_at"] is not None for k in orjson.loads(out)] == [True, False]


@pytest.mark.parametrize("argv,reason", [
    (["--role", "device"], "give --sensors"), (["--role", "viewer", "--sensors", "S1"], "only device keys"),
    (["--role", "viewer", "--name", "x" * 201], "at most 200 characters")])
def test_a_key_that_cannot_be_made_is_refused_with_the_reason_and_nothing_is_stored(
        settings: Settings, capsys: pytest.CaptureFixture[str], argv: list[str], reason: str) -> None:
    code, out, err = _run(["keys", "create", *argv], settings, capsys)
    assert code == 2 and reason in err and out == ""
    assert _run(["keys", "list", "--json"], settings, capsys)[1].strip() == "[]"


def test_serve_on_a_public_address_without_keys_is_refused_before_it_binds(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["serve", "--host", "0.0.0.0", "--port", "1"], settings, capsys)
    assert code == 2 and "refusing to serve on 0.0.0.0 without API keys" in err and "--open-access" in err


def test_open_access_on_a_public_address_is_allowed_but_warned_and_keys_lift_the_refusal(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert settings.database_url is not None
    engine = create_db_engine(settings.database_url)
    try:
        public = settings.model_copy(update={"host": "0.0.0.0"})
        assert exposure_refusal(settings, engine) is None  # loopback: open as ever
        assert exposure_refusal(public, engine) is not None
        assert exposure_refusal(public.model_copy(update={"open_access": True}), engine) is None
        assert "WARNING: serving on 0.0.0.0 with open access" in capsys.readouterr().err
        _run(["keys", "create", "--role", "admin"], settings, capsys)
        assert exposure_refusal(public, engine) is None
    finally:
        engine.dispose()
