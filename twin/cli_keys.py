"""`citytwin keys create|list|revoke`: API keys straight in the database (no server needed; running servers take
the change at once through the `keys_changed` notice), and the check `serve` makes before it binds."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import TYPE_CHECKING, Any

from twin.cli import _print_json, console, open_database

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from twin.settings import Settings


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from twin.access.store import KeyRequestError, create_key

    sensors = [s.strip() for s in (args.sensors or "").split(",") if s.strip()]
    database = open_database(settings)
    try:
        key = create_key(database.engine, args.role, args.name, sensors)
    except KeyRequestError as exc:
        console().print(f"[red]error:[/] {exc}")
        return 2
    finally:
        database.close()
    if args.json:
        _print_json({"id": key.key_id, "role": args.role, "key": key.token})
    else:
        sys.stdout.write(key.token + "\n")
        console().print(f"key [bold]{key.key_id}[/] ({args.role}) created; the line above is its secret, shown "
                        "this once: only a hash of it is kept")
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from twin.access.store import load_keys

    database = open_database(settings)
    try:
        keys = [k for k in load_keys(database.engine) if args.all or k.active]
    finally:
        database.close()
    if args.json:
        _print_json([k.as_json() for k in keys])
        return 0
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        sensors = f"  sensors {','.join(sorted(k.sensors))}" if k.sensors else ""
        console().print(f"[bold]{k.key_id}[/]  {k.role:<8}  {state}  created {k.created_at:%Y-%m-%d %H:%M}  "
                        f"{k.name}{sensors}")
    if not keys:
        console().print("no API keys: the server is open to whoever reaches it (it binds 127.0.0.1 by default)")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from twin.access.store import revoke_key

    database = open_database(settings)
    try:
        done = revoke_key(database.engine, args.id)
    finally:
        database.close()
    if not done:
        console().print(f"[red]error:[/] no active key {args.id!r}")
        return 1
    console().print(f"key [bold]{args.id}[/] revoked")
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_refusal(settings: Settings, engine: Engine) -> str | None:
    """Why `serve` must not bind `settings.host`, or None: a non-loopback address with no active key is refused
    unless open access was asked for (then warned about loudly)."""
    from twin.access.store import load_keys

    if is_loopback(settings.host) or any(k.active for k in load_keys(engine)):
        return None
    if settings.open_access:
        console().print(f"[bold red]WARNING: serving on {settings.host} with open access: everyone who reaches "
                        "this address may read, ingest, delete and run drills. Create keys with "
                        "`citytwin keys create`.[/]")
        return None
    return (f"refusing to serve on {settings.host} without API keys: anyone reaching it could change the twin. "
            "Create an admin key first (`citytwin keys create --role admin`), or pass --open-access "
            "(CITYTWIN_OPEN_ACCESS=true) if something in front of the server guards it.")


def add_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys and their roles (docs/access.md)")
    actions = keys.add_subparsers(dest="action", required=True)
    created = actions.add_parser("create", help="make a key; prints its secret once")
    created.add_argument("--role", required=True, choices=["viewer", "operator", "admin", "device"])
    created.add_argument("--name", default="", help="who or what holds it")
    created.add_argument("--sensors", help="device keys: the comma-separated sensor ids it may post readings for")
    created.add_argument("--json", action="store_true", help="print id, role and key as JSON")
    created.set_defaults(handler=cmd_keys_create)
    listed = actions.add_parser("list", help="the active keys (never their secrets)")
    listed.add_argument("--all", action="store_true", help="revoked keys too")
    listed.add_argument("--json", action="store_true")
    listed.set_defaults(handler=cmd_keys_list)
    revoked = actions.add_parser("revoke", help="revoke a key by its id (in force at once on running servers)")
    revoked.add_argument("id")
    revoked.set_defaults(handler=cmd_keys_revoke)
