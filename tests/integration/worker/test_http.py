"""The /healthz + /metrics server on a real socket."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter

from talkavocado_common.worker import MetricsServer


async def test_health_metrics_and_errors() -> None:
    registry = CollectorRegistry()
    Counter("demo_things_total", "Things.", registry=registry).inc(3)
    state: dict[str, Any] = {"ok": True}
    server = MetricsServer(registry, lambda: (state["ok"], {"service": "demo"}), port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            health = await http.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok", "service": "demo"})
            state["ok"] = False
            assert (await http.get("/healthz?verbose=1")).status_code == 503
            metrics = await http.get("/metrics")
            assert metrics.headers["content-type"].startswith("text/plain")
            assert "demo_things_total 3.0" in metrics.text
            assert (await http.get("/")).status_code == 404
            assert (await http.post("/healthz")).status_code == 405
            head = await http.head("/metrics")
            assert (head.status_code, head.content) == (200, b"")
    finally:
        await server.stop()
