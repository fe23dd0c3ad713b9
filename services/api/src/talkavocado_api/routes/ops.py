"""Operational endpoints: liveness, readiness (dependencies reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import MetricsDep, SettingsDep
from ..errors import ErrorBody, error_response
from ..ports import ReadinessCheck
from ..schemas import CheckResults

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", summary="Liveness", response_model=CheckResults)
async def healthz() -> CheckResults:
    return CheckResults(status="ok")


async def _run_check(check: ReadinessCheck, limit: float) -> str:
    try:
        with anyio.fail_after(limit):
            await check()
    except TimeoutError:
        return f"timed out after {limit:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return "ok"


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: broker and storage reachable",
    response_model=CheckResults,
    responses={503: {"model": ErrorBody, "description": "A dependency is unreachable."}},
)
async def readyz(request: Request, settings: SettingsDep) -> Any:
    checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    names = list(checks)
    results = await asyncio.gather(
        *(_run_check(checks[n], settings.readiness_timeout_seconds) for n in names)
    )
    outcome = dict(zip(names, results, strict=True))
    failed = [n for n, r in outcome.items() if r != "ok"]
    if failed:
        return error_response(
            503,
            "not_ready",
            "; ".join(f"{n}: {outcome[n]}" for n in failed),
            extra={"status": "not_ready", "failed": failed, "checks": outcome},
        )
    return CheckResults(status="ready", checks=outcome)


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
