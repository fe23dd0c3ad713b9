"""Benchmark: what the platform adds to the media work.

1. `POST /jobs` latency (p50/p95/p99) and throughput, against the API of a running `avocado up`
   stack (real Kafka-protocol broker, real HTTP): one client back to back; `--concurrency`
   clients (8) sending at `--rate` requests per second in all (200: each request leaves at its
   slot, so a slow answer is not hidden by fewer requests; goal p95 <= 20 ms), `--rounds` times
   (the median round is the figure); and the same clients back to back (the most it serves).
   The stack's job-creation budget (API_CREATE_RATE_PER_MINUTE) is raised for the run: admission
   control still runs on every request, it just never refuses.
2. The same generated recording through `avocado up` + REST versus `avocado process`, as a ratio
   measured in the same run (goal <= 1.05); `--api-only` skips it.

Figures are printed (and saved under bench/out/), never asserted.

    .venv/bin/python -m bench.platform [--seconds 60] [--requests 1000] [--concurrency 8]
        [--rate 200] [--rounds 3] [--api-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from talkavocado_cli.samplegen import long_script, make_recording
from talkavocado_cli.stack_process import StackProcess
from talkavocado_common.api_keys import new_key
from talkavocado_common.kafka import free_port

ROOT = Path(__file__).resolve().parents[1]
AVOCADO = Path(sys.executable).with_name("avocado")
KEY = new_key()  # the API refuses weak keys
TENANT = "demo-tenant"
# Every request is admitted (and still counted by the token bucket): latency, not refusals.
STACK_ENV = {"API_CREATE_RATE_PER_MINUTE": "100000000", "API_CREATE_BURST": "1000000"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RawClient:
    """One keep-alive HTTP/1.1 connection that sends prepared POST /jobs requests and reads the
    answers by Content-Length. httpx spends about as much CPU per request as the API does, so
    with it the load generator would take half of the machine the API is measured on."""

    def __init__(self, url: str, body: bytes) -> None:
        self.host, _, port = url.removeprefix("http://").partition(":")
        self.port = int(port or 80)
        self.request = (
            f"POST /jobs HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()

    async def post(self) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        return status, await self.reader.readexactly(length)


async def post_jobs(
    url: str, requests: int, concurrency: int, rate: float | None = None
) -> dict[str, float]:
    """`requests` POST /jobs from `concurrency` clients (one connection each): back to back, or
    (`rate`) request i leaves at i / rate seconds, taken by whichever client is free (latency
    from its send)."""
    body = json.dumps(
        {
            "tenantId": TENANT,
            "input": {"originalFilename": "a.mp4", "bytes": 1000, "mimeType": "video/mp4"},
        }
    ).encode()
    latencies: list[float] = []
    late: list[float] = []
    slots = iter(range(requests))

    async def client_loop(client: RawClient, start: float) -> None:
        for i in slots:
            if rate:
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    late.append(-wait)
            began = time.perf_counter()
            status, answer = await client.post()
            latencies.append(time.perf_counter() - began)
            if status != 201:
                raise SystemExit(f"bench: POST /jobs answered {status}: {answer.decode()}")

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(RawClient(url, body)) for _ in range(concurrency)
        ]
        began = time.perf_counter()
        await asyncio.gather(*(client_loop(c, began) for c in clients))
        wall = time.perf_counter() - began
    return {
        "requests": requests,
        "concurrency": concurrency,
        "targetPerSecond": rate or 0,
        "p50Ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95Ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99Ms": round(percentile(latencies, 0.99) * 1000, 2),
        "meanMs": round(statistics.mean(latencies) * 1000, 2),
        "perSecond": round(requests / wall, 1),
        "lateSends": len(late),  # paced: requests that left after their slot (no client free)
    }


def describe(label: str, r: dict[str, float]) -> str:
    return (
        f"POST /jobs, {label}: p50 {r['p50Ms']} ms, p95 {r['p95Ms']} ms, p99 {r['p99Ms']} ms, "
        f"{r['perSecond']}/s"
        + (
            f" (target {r['targetPerSecond']:g}/s, {r['lateSends']:g} late)"
            if r["targetPerSecond"]
            else ""
        )
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_figures(url: str, api_pid: int, args: argparse.Namespace) -> dict[str, object]:
    """The POST /jobs figures: warm-up, 1 client, the paced rounds, the clients back to back;
    and the API process's CPU time per request over the paced rounds (what the machine's load
    does not change much, unlike the latencies)."""
    asyncio.run(post_jobs(url, 200, args.concurrency))  # warm-up: imports, caches, pools
    sequential = asyncio.run(post_jobs(url, args.requests // 2, 1))
    print(describe("1 client back to back", sequential), flush=True)
    paced = []
    cpu_before = cpu_seconds(api_pid)
    for _ in range(args.rounds):
        paced.append(asyncio.run(post_jobs(url, args.requests, args.concurrency, args.rate)))
        print(describe(f"{args.concurrency} clients at a target rate", paced[-1]), flush=True)
    cpu_ms = (cpu_seconds(api_pid) - cpu_before) * 1000 / (args.requests * args.rounds)
    print(f"API process CPU per POST /jobs: {cpu_ms:.2f} ms", flush=True)
    median = sorted(paced, key=lambda r: r["p95Ms"])[len(paced) // 2]
    unpaced = asyncio.run(post_jobs(url, args.requests, args.concurrency))
    print(describe(f"{args.concurrency} clients back to back", unpaced), flush=True)
    return {
        "apiCpuMsPerRequest": round(cpu_ms, 3),
        "postJobsSequential": sequential,
        "postJobsPaced": paced,
        "postJobsPacedMedian": median,
        "postJobsConcurrent": unpaced,
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
    parser.add_argument("--requests", type=int, default=1000, help="per paced round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200, help="target POST /jobs per second")
    parser.add_argument("--rounds", type=int, default=3, help="paced rounds (median reported)")
    parser.add_argument("--api-only", action="store_true", help="only the POST /jobs figures")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    result: dict[str, object] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="avocado-bench-") as tmp:
        work = Path(tmp)
        source = work / "talk.mp4"
        stack = StackProcess(
            port=free_port(), storage=work / "storage", dev_key=KEY, cwd=work, env=STACK_ENV
        ).start()
        try:
            result.update(api_figures(stack.url, stack.pid_of("api"), args))
            if not args.api_only:
                recording = make_recording(
                    long_script(args.seconds), source, width=width, height=height
                )
                through_rest(stack.url, source)  # warm-up: models loaded, groups settled
                platform = [through_rest(stack.url, source) for _ in range(2)]
        finally:
            stack.stop()
        if not args.api_only:
            local = [in_process(source, work / "local") for _ in range(2)]
    median = result["postJobsPacedMedian"]
    assert isinstance(median, dict)
    print(
        f"POST /jobs with {args.concurrency} clients at {args.rate:g}/s (median of "
        f"{args.rounds} rounds): p50 {median['p50Ms']} ms, p95 {median['p95Ms']} ms, "
        f"{median['perSecond']}/s (goal p95 <= 20 ms); API CPU {result['apiCpuMsPerRequest']} ms "
        "per request"
    )
    if not args.api_only:
        result.update(
            {
                "recordingSec": round(recording.duration, 2),
                "size": args.size,
                "platformSec": [round(x, 2) for x in platform],
                "processSec": [round(x, 2) for x in local],
                "ratioPlatformToProcess": round(min(platform) / min(local), 3),
            }
        )
        print(
            f"{recording.duration:.1f} s recording: avocado up + REST {min(platform):.2f} s, "
            f"avocado process {min(local):.2f} s"
        )
        print(f"ratio platform / in-process: {result['ratioPlatformToProcess']:.3f} (goal <= 1.05)")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    name = "platform-api.json" if args.api_only else "platform.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
