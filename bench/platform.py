"""Benchmark: what the platform adds to the media work.

1. `POST /jobs` latency (p50/p95/p99) and throughput under concurrent clients, against the API
   of a running `avocado up` stack (real Kafka-protocol broker, real HTTP).
2. The same generated recording through `avocado up` + REST versus `avocado process`, as a ratio
   measured in the same run (goal ≤ 1.05).

Figures are printed (and saved under bench/out/), never asserted.

    .venv/bin/python -m bench.platform [--seconds 60] [--requests 400] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from talkavocado_cli.samplegen import long_script, make_recording
from talkavocado_cli.stack_process import StackProcess
from talkavocado_common.kafka import free_port

ROOT = Path(__file__).resolve().parents[1]
AVOCADO = Path(sys.executable).with_name("avocado")
KEY = "bench-dev-key-0123456789abcdef"
TENANT = "demo-tenant"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def post_jobs(url: str, requests: int, concurrency: int) -> dict[str, float]:
    body = {
        "tenantId": TENANT,
        "input": {"originalFilename": "a.mp4", "bytes": 1000, "mimeType": "video/mp4"},
    }
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def client_loop() -> None:
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as client:
            while not queue.empty():
                queue.get_nowait()
                began = time.perf_counter()
                response = await client.post("/jobs", json=body)
                latencies.append(time.perf_counter() - began)
                if response.status_code != 201:
                    raise SystemExit(
                        f"bench: POST /jobs answered {response.status_code}: {response.text}"
                    )

    began = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    return {
        "requests": requests,
        "concurrency": concurrency,
        "p50Ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95Ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99Ms": round(percentile(latencies, 0.99) * 1000, 2),
        "meanMs": round(statistics.mean(latencies) * 1000, 2),
        "perSecond": round(requests / wall, 1),
    }


def through_rest(url: str, source: Path) -> float:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as client:
        began = time.perf_counter()
        job = client.post(
            "/jobs",
            json={
                "tenantId": TENANT,
                "input": {
                    "originalFilename": source.name,
                    "bytes": source.stat().st_size,
                    "mimeType": "video/mp4",
                },
            },
        ).json()
        with source.open("rb") as body:
            client.put(
                job["uploadUrl"], content=body, headers={"content-type": "video/mp4"}
            ).raise_for_status()
        while True:
            status = client.get(f"/jobs/{job['jobId']}", params={"tenantId": TENANT}).json()[
                "status"
            ]
            if status in ("completed", "failed"):
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - began
    if status != "completed":
        raise SystemExit(f"bench: the job ended {status}")
    return elapsed


def in_process(source: Path, storage: Path) -> float:
    began = time.perf_counter()
    subprocess.run(
        [str(AVOCADO), "process", str(source), "--storage", str(storage), "-q"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="avocado-bench-") as tmp:
        work = Path(tmp)
        source = work / "talk.mp4"
        recording = make_recording(long_script(args.seconds), source, width=width, height=height)
        stack = StackProcess(
            port=free_port(), storage=work / "storage", dev_key=KEY, cwd=work
        ).start()
        try:
            url = stack.url
            sequential = asyncio.run(post_jobs(url, args.requests // 2, 1))
            concurrent = asyncio.run(post_jobs(url, args.requests, args.concurrency))
            through_rest(url, source)  # warm-up: models loaded, groups settled
            platform = [through_rest(url, source) for _ in range(2)]
        finally:
            stack.stop()
        local = [in_process(source, work / "local") for _ in range(2)]
    result = {
        "recordingSec": round(recording.duration, 2),
        "size": args.size,
        "postJobsSequential": sequential,
        "postJobsConcurrent": concurrent,
        "platformSec": [round(x, 2) for x in platform],
        "processSec": [round(x, 2) for x in local],
        "ratioPlatformToProcess": round(min(platform) / min(local), 3),
    }
    print(
        f"POST /jobs, 1 client:  p50 {sequential['p50Ms']} ms, p95 {sequential['p95Ms']} ms, p99 {sequential['p99Ms']} ms, {sequential['perSecond']}/s"
    )
    print(
        f"POST /jobs, {args.concurrency} clients: p50 {concurrent['p50Ms']} ms, p95 {concurrent['p95Ms']} ms, p99 {concurrent['p99Ms']} ms, {concurrent['perSecond']}/s"
    )
    print(
        f"{recording.duration:.1f} s recording: avocado up + REST {min(platform):.2f} s, avocado process {min(local):.2f} s"
    )
    print(f"ratio platform / in-process: {result['ratioPlatformToProcess']:.3f} (goal <= 1.05)")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "platform.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
