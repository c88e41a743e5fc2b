"""`citytwin plans import|list`: drill plans straight into the database (no server needed), each checked against
the twin as `POST /plans` checks it."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.cli import _print_json, console, open_database

if TYPE_CHECKING:
    from twin.settings import Settings


def cmd_plans_import(args: argparse.Namespace, settings: Settings) -> int:
    from scenes.drills.errors import PlanError
    from scenes.drills.plan import load_plan_text
    from twin.drills import inputs, store

    database = open_database(settings)
    try:
        plans, refused = [], []
        for path in args.paths:
            try:
                plan = load_plan_text(Path(path).read_text(encoding="utf-8"))
                inputs.check_plan(database.engine, plan)
                plans.append(plan)
            except (OSError, UnicodeDecodeError, PlanError) as exc:
                refused.append((path, str(exc)))
        dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        created = asyncio.run(store.store_plans(dsn, plans)) if plans else []
    finally:
        database.close()
    if args.json:
        _print_json({"stored": [{"id": p.id, "created": c, "schemes": [s.id for s in p.schemes]}
                                for p, c in zip(plans, created, strict=True)],
                     "refused": [{"file": f, "reason": why} for f, why in refused]})
    else:
        for plan, new in zip(plans, created, strict=True):
            console().print(f"plan [bold]{plan.id}[/] {'stored' if new else 'replaced'}: {plan.name} "
                            f"({plan.hazard}; schemes {', '.join(s.id for s in plan.schemes)})")
        for path, reason in refused:
            console().print(f"[red]{path}:[/] {reason}")
    return 1 if refused else 0


def cmd_plans_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import text

    database = open_database(settings)
    try:
        with database.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, name, hazard, jsonb_array_length(document -> 'schemes') "
                                     "FROM drill_plans ORDER BY id")).all()
    finally:
        database.close()
    if args.json:
        _print_json([{"id": r[0], "name": r[1], "hazard": r[2], "schemes": r[3]} for r in rows])
    else:
        for r in rows:
            console().print(f"[bold]{r[0]}[/]  {r[2]}  {r[3]} schemes  {r[1]}")
    return 0


def add_commands(sub: Any) -> None:
    plans = sub.add_parser("plans", help="emergency drill plans (docs/drills.md)")
    actions = plans.add_subparsers(dest="action", required=True)
    imported = actions.add_parser("import", help="store plans from JSON or YAML files, checked against the twin")
    imported.add_argument("paths", nargs="+")
    imported.add_argument("--json", action="store_true", help="print a machine-readable summary")
    imported.set_defaults(handler=cmd_plans_import)
    listed = actions.add_parser("list", help="the stored plans")
    listed.add_argument("--json", action="store_true")
    listed.set_defaults(handler=cmd_plans_list)
