"""Access's pure parts: key format and hashes, token buckets, what each role may do, the route table, and where a
request's key is read from."""

from __future__ import annotations

import pytest

from twin.access.asgi import token_of
from twin.access.control import AccessControl, Unauthorized
from twin.access.keys import KeyFormatError, hash_secret, new_key, split_token, verify_secret
from twin.access.policy import UNDECLARED, declared, roles_for
from twin.access.ratelimit import RateLimiter, retry_after
from twin.access.roles import OPEN, Principal, Role, satisfies
from twin.access.store import KeyRecord
from twin.api.app import create_app
from twin.cli_keys import is_loopback
from twin.settings import Settings


def test_a_new_key_splits_into_its_id_and_a_secret_that_only_its_hash_verifies() -> None:
    key = new_key()
    key_id, secret = split_token(key.token)
    assert key_id == key.key_id and len(secret) == 43
    stored = hash_secret(secret)
    assert stored.startswith("scrypt$14$8$1$") and secret not in stored
    assert verify_secret(secret, stored)
    assert not verify_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"), stored)
    assert not verify_secret(secret, "bcrypt$whatever") and not verify_secret(secret, "garbage")


@pytest.mark.parametrize("text", ["", "ctk_", "ctk_0123456789ab", "abc_0123456789ab_" + "x" * 43,
                                  "ctk_0123456789AB_" + "x" * 43, "ctk_0123456789ab_" + "x" * 42])
def test_text_that_is_no_key_is_refused_by_its_format(text: str) -> None:
    with pytest.raises(KeyFormatError, match="not a CityTwin API key"):
        split_token(text)


def test_a_bucket_allows_its_burst_then_one_request_per_period_and_says_how_long_to_wait() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("k", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k", 0.0) == pytest.approx(0.5)
    assert limiter.take("other", 0.0) == 0.0  # buckets are apart
    assert limiter.take("k", 0.5) == 0.0 and limiter.take("k", 0.5) == pytest.approx(0.5)
    assert limiter.take("k", 100.0) == 0.0  # refilled, but never above the burst
    assert [limiter.take("k", 100.0) for _ in range(3)][-1] == pytest.approx(0.5)
    assert retry_after(0.01) == 1 and retry_after(1.2) == 2
    with pytest.raises(ValueError):
        RateLimiter(0, 1)


def test_each_role_holds_what_the_ones_below_may_do_and_a_device_only_posts_readings() -> None:
    assert satisfies(Role.ADMIN, Role.OPERATOR) and satisfies(Role.OPERATOR, Role.VIEWER)
    assert not satisfies(Role.VIEWER, Role.OPERATOR) and not satisfies(Role.OPERATOR, Role.ADMIN)
    assert satisfies(Role.DEVICE, Role.DEVICE) and satisfies(Role.ADMIN, Role.DEVICE)
    assert not satisfies(Role.DEVICE, Role.VIEWER) and not satisfies(Role.OPERATOR, Role.DEVICE)
    assert all(satisfies(r, Role.PUBLIC) for r in Role)
    device = Principal(Role.DEVICE, "k", frozenset({"S1"}))
    assert device.sensor_limit == {"S1"} and Principal(Role.ADMIN, "a").sensor_limit is None
    assert OPEN.may(Role.ADMIN) and OPEN.sensor_limit is None


def test_the_table_gives_each_kind_of_request_its_role() -> None:
    assert roles_for("GET", "/tilesets/abc/content/0/0/0.glb") == (Role.VIEWER,)
    assert roles_for("HEAD", "/tilesets/abc/tileset.json") == (Role.VIEWER,)
    assert roles_for("POST", "/alarms/7/acknowledge") == (Role.OPERATOR,)
    assert roles_for("POST", "/readings") == (Role.DEVICE,)
    assert roles_for("DELETE", "/sensors/S1") == (Role.ADMIN,)
    assert roles_for("GET", "/viewer/config.json") == (Role.PUBLIC,)
    assert roles_for("OPTIONS", "/events") == (Role.PUBLIC,)  # CORS preflight
    assert roles_for("GET", "/no/such/route") == (UNDECLARED,) == (Role.ADMIN,)
    assert roles_for("POST", "/tilesets") == (Role.ADMIN,)  # a method no row has
    assert roles_for("WEBSOCKET", "/ws") == (Role.VIEWER, Role.DEVICE)


def _app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    spec = app.openapi()
    routes = [(m.upper(), path) for path, item in spec["paths"].items() for m in item]
    return [*routes, ("WEBSOCKET", "/ws"), ("GET", "/"), ("GET", "/viewer/src/main.js")]


def test_every_route_of_the_app_declares_its_role_in_the_table() -> None:
    undeclared = [f"{m} {p}" for m, p in _app_routes() if not declared(m, p)]
    assert undeclared == [], f"routes without a row in twin/access/policy.py: {undeclared}"


def test_a_route_without_a_row_would_be_found_by_that_check() -> None:
    assert not declared("GET", "/metrics/{name}") and not declared("PATCH", "/events/{event_id}")


def _record(key_id: str, role: Role, secret_hash: str, sensors: frozenset[str] = frozenset()) -> KeyRecord:
    from datetime import UTC, datetime
    return KeyRecord(key_id, role, "", sensors, secret_hash, None, datetime.now(UTC), None)


def test_access_control_is_open_without_keys_and_verifies_then_caches_a_key_once_there_are_some() -> None:
    assert AccessControl([]).without_key() is OPEN
    key = new_key()
    _, secret = split_token(key.token)
    control = AccessControl([_record(key.key_id, Role.VIEWER, hash_secret(secret))])
    assert control.enforcing and control.without_key().role is None
    assert control.cached(key.token, 0.0) is None
    principal = control.verify(key.token, 0.0)
    assert principal.role is Role.VIEWER and control.cached(key.token, 1.0) == principal
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        control.verify(new_key().token, 0.0)
    with pytest.raises(Unauthorized, match="not a CityTwin API key"):
        control.verify("secret", 0.0)
    control.replace([])  # revoked: its cached verification goes with it
    assert control.cached(key.token, 1.0) is None and not control.enforcing


def _scope(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict[str, object]:
    return {"type": "http", "headers": headers, "query_string": query}


def test_a_key_is_read_from_the_bearer_header_then_the_query_then_the_viewer_cookie() -> None:
    assert token_of(_scope([(b"authorization", b"Bearer abc")], b"key=q")) == ("abc", "header")
    assert token_of(_scope([(b"authorization", b"Basic abc")])) == (None, "header")
    assert token_of(_scope([(b"cookie", b"a=1; citytwin_key=c")], b"x=1&key=q")) == ("q", "query")
    assert token_of(_scope([(b"cookie", b"a=1; citytwin_key=c")])) == ("c", "cookie")
    assert token_of(_scope([])) == (None, "")


def test_only_loopback_addresses_count_as_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
