"""Operations routes: `/metrics` (Prometheus text), `/health/live` and `/health/ready`.

`ACCESS` is the one place saying who each operations route is meant for; every route here carries it in its
OpenAPI operation as `x-citytwin-access`, for the access layer to enforce (nothing here checks it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twin.api.deps import EngineDep
from twin.api.responses import OrjsonResponse
from twin.ops import metrics
from twin.ops.health import readiness

ACCESS: dict[str, str] = {
    "/health": "public",  # the older combined probe (twin/api/routes_tiles.py), kept as it was
    "/health/live": "public",
    "/health/ready": "public",
    "/metrics": "admin",  # load balancers and orchestrators probe health; only the scraper reads metrics
}
router = APIRouter(tags=["operations"])


def _access(path: str) -> dict[str, Any]:
    return {"x-citytwin-access": ACCESS[path]}


@router.get("/health/live", openapi_extra=_access("/health/live"))
async def live() -> OrjsonResponse:
    """The process is up and its event loop answers (restart it when this fails)."""
    return OrjsonResponse({"status": "ok"})


@router.get("/health/ready", openapi_extra=_access("/health/ready"),
            responses={503: {"description": "not ready: the failing checks say why"}})
def ready(request: Request, engine: EngineDep) -> OrjsonResponse:
    """Ready for traffic: database reachable at the migrations' head, live layer and bus up, not draining."""
    drain = getattr(request.app.state, "drain", None)
    ok, body = readiness(engine, getattr(request.app.state, "live", None), drain is not None and drain.draining)
    return OrjsonResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", openapi_extra=_access("/metrics"), response_class=Response,
            responses={200: {"content": {metrics.CONTENT_TYPE: {}}, "description": "Prometheus text format"}})
async def metrics_text(request: Request) -> Response:
    """Every worker's metrics in Prometheus' text format (one scrape answers for all workers)."""
    live = getattr(request.app.state, "live", None)
    if live is not None:
        metrics.sample_live(live.hub, len(live.sessions))
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
