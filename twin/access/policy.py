"""Every route and the role it needs, in one table: who may do what (docs/access.md).

A request is matched on its method and path before any routing, so the bare-ASGI fast paths (tiles, location
queries) and the websocket handshake are covered alike. A path the table does not hold needs `admin` (a route
added without a row is closed, and `tests/test_access_roles.py` fails on it). `HEAD` goes with `GET`; `OPTIONS`
(CORS preflight, answered by the CORS middleware) is public.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.routing import compile_path

from twin.access.roles import Role

P, V, OP, A, D = Role.PUBLIC, Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.DEVICE

Roles = tuple[Role, ...]
RULES: tuple[tuple[str, str, Role | Roles], ...] = (
    # the viewer's page, its configuration and code; the API's description; liveness
    ("GET", "/", P), ("GET", "/viewer/config.json", P), ("GET", "/viewer/src/{path:path}", P),
    ("GET", "/viewer/cesium/{path:path}", P), ("GET", "/openapi.json", P), ("GET", "/docs", P),
    ("GET", "/docs/oauth2-redirect", P), ("GET", "/redoc", P), ("GET", "/health", P),
    # the operations routes as twin/api/routes_ops.py's ACCESS declares them: probes public, metrics for admins
    ("GET", "/health/live", P), ("GET", "/health/ready", P), ("GET", "/metrics", A),
    # reading the twin
    ("GET", "/viewer/ancestors", V), ("GET", "/tilesets", V), ("GET", "/tilesets/{tileset_id}/{path:path}", V),
    ("GET", "/objects/{object_id}", V), ("GET", "/datasets", V), ("GET", "/buildings/{building_id}/floors", V),
    ("GET", "/ogc", V), ("GET", "/ogc/{path:path}", V), ("GET", "/query/near", V), ("GET", "/query/at", V),
    ("GET", "/query/nearest", V), ("GET", "/query/within", V), ("POST", "/query/within", V),
    ("GET", "/objects/{object_id}/children", V), ("GET", "/objects/{object_id}/context", V),
    ("GET", "/sensors", V), ("GET", "/sensors/latest", V), ("GET", "/sensors/{sensor_id}", V),
    ("GET", "/sensors/{sensor_id}/readings", V), ("GET", "/alarms", V), ("GET", "/thresholds", V),
    ("GET", "/state", V), ("GET", "/sta/v1.1", V), ("GET", "/sta/v1.1/{path:path}", V), ("GET", "/actors", V),
    ("GET", "/events", V), ("GET", "/events/{event_id}", V), ("GET", "/events/{event_id}/nearby", V),
    ("GET", "/cockpit", V), ("GET", "/plans", V), ("GET", "/plans/{plan_id}", V), ("GET", "/drills/runs", V),
    ("GET", "/drills/runs/{run_id}", V), ("GET", "/drills/runs/{run_id}/frames", V),
    ("GET", "/drills/runs/{run_id}/report", V), ("GET", "/drills/runs/{run_id}/czml", V),
    ("GET", "/drills/compare", V), ("GET", "/drills/compare/page", V), ("GET", "/terrain", V),
    ("GET", "/terrain/height", V), ("POST", "/terrain/heights", V), ("GET", "/networks", V),
    ("GET", "/networks/{network_id}/isolate", V),
    ("WEBSOCKET", "/ws", (V, D)),  # devices post readings on it (only they and admins may: twin/live/ws.py)
    # working events, alarms and drills
    ("POST", "/alarms/{alarm_id}/acknowledge", OP), ("PUT", "/actors/{actor_id}", OP), ("POST", "/events", OP),
    ("POST", "/events/{event_id}/transitions", OP), ("POST", "/events/{event_id}/merge", OP),
    ("POST", "/plans/{plan_id}/runs", OP), ("POST", "/drills/runs/{run_id}/pause", OP),
    ("POST", "/drills/runs/{run_id}/resume", OP), ("POST", "/drills/runs/{run_id}/stop", OP),
    ("POST", "/drills/runs/{run_id}/seek", OP), ("POST", "/drills/runs/{run_id}/speed", OP),
    # ingest, sensors, plans, configuration
    ("POST", "/ingest/{kind}", A), ("GET", "/jobs", A), ("GET", "/jobs/{job_id}", A), ("POST", "/sensors", A),
    ("PUT", "/sensors/{sensor_id}", A), ("DELETE", "/sensors/{sensor_id}", A), ("PUT", "/thresholds/{kind}", A),
    ("POST", "/plans", A), ("DELETE", "/plans/{plan_id}", A),
    # devices
    ("POST", "/readings", D),
)


@dataclass(frozen=True, slots=True)
class Rule:
    method: str
    template: str
    roles: Roles
    pattern: re.Pattern[str]


def _compiled(rules: tuple[tuple[str, str, Role | Roles], ...]) -> tuple[Rule, ...]:
    return tuple(Rule(method, template, roles if isinstance(roles, tuple) else (roles,), compile_path(template)[0])
                 for method, template, roles in rules)


COMPILED = _compiled(RULES)
UNDECLARED = Role.ADMIN
"""What a path no row holds needs."""


def rule_for(method: str, path: str) -> Rule | None:
    """The row a request falls under (the first that matches its method and path), or None."""
    wanted = "GET" if method == "HEAD" else method
    for rule in COMPILED:
        if rule.method == wanted and rule.pattern.match(path):
            return rule
    return None


def roles_for(method: str, path: str) -> Roles:
    """The roles (any one will do) a request needs: its row's, `PUBLIC` for CORS preflights, `admin` for a path
    no row holds."""
    if method == "OPTIONS":
        return (Role.PUBLIC,)
    rule = rule_for(method, path)
    return rule.roles if rule is not None else (UNDECLARED,)


def declared(method: str, template: str) -> bool:
    """Whether the table has a row for this route template (the check that every route declares its role)."""
    wanted = "GET" if method == "HEAD" else method
    return any(r.method == wanted and r.template == template for r in COMPILED) or rule_for(
        wanted, _sample_path(template)) is not None


def _sample_path(template: str) -> str:
    """A concrete path of a template, its parameters filled with a letter (matched like a real request)."""
    return re.sub(r"\{[^}]+\}", "x", template)
