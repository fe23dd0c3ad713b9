"""Benchmark: the S3 backend's streaming, against the local backend in the same run.

For one file of `--mb` MiB and for a 1 MiB file, each in a fresh child process:
  - upload (`upload_from`, multipart for S3) and download (`download_to`, ranged streaming);
  - the child's peak RSS: the difference between the big and the small file is what the size of
    the object costs in memory — streaming keeps it near one part (`STORAGE_S3_PART_BYTES`), not
    the file size.
The S3 endpoint is moto's server on loopback (a Python process keeping objects in memory), so
its throughput is moto's, not S3's; the memory figure is the backend's own.

    .venv/bin/python -m bench.storage [--mb 256]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from talkavocado_common.settings import StorageSettings
from talkavocado_common.storage import open_storage
from tests.support.rss import own_peak_rss_bytes
from tests.support.s3 import start_s3_server

MIB = 1024 * 1024


async def _transfer(location: str, source: Path) -> dict[str, float]:
    storage = open_storage(location, StorageSettings())
    try:
        start = time.perf_counter()
        await storage.upload_from(source, "bench/tenant/job/input/file.bin")
        uploaded = time.perf_counter()
        await storage.download_to("bench/tenant/job/input/file.bin", source.with_suffix(".out"))
        downloaded = time.perf_counter()
    finally:
        await storage.aclose()
    return {
        "upload_s": uploaded - start,
        "download_s": downloaded - uploaded,
        "peak_rss_mb": own_peak_rss_bytes() / 1024 / 1024,
    }


def child(location: str, source: str) -> None:
    result = asyncio.run(_transfer(location, Path(source)))
    if Path(source).with_suffix(".out").stat().st_size != Path(source).stat().st_size:
        raise SystemExit("download size differs")
    print(json.dumps(result))


def measure(location: str, source: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.storage", "--child", location, str(source)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--child", nargs=2, metavar=("LOCATION", "FILE"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    server = start_s3_server()
    try:
        bucket = server.create_bucket()
        s3_env = server.env(bucket, "bench")
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            big, small = root / "big.bin", root / "small.bin"
            with big.open("wb") as handle:
                for _ in range(args.mb):
                    handle.write(os.urandom(MIB))
            small.write_bytes(os.urandom(MIB))
            rows = []
            for name, location, env in [
                ("local", str(root / "storage"), {}),
                ("s3", s3_env["STORAGE_URL"], s3_env),
            ]:
                small_run = measure(location, small, env)
                big_run = measure(location, big, env)
                rows.append((name, small_run, big_run))
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)

    part_mb = StorageSettings().s3_part_bytes / MIB
    print(
        f"storage: {args.mb} MiB object, S3 part size {part_mb:.0f} MiB (moto server on loopback)"
    )
    print(
        "| backend | upload | download | MiB/s up | MiB/s down | peak RSS 1 MiB | peak RSS big | RSS cost of size |"
    )
    print("|---|---|---|---|---|---|---|---|")
    report = {}
    for name, small_run, big_run in rows:
        cost = big_run["peak_rss_mb"] - small_run["peak_rss_mb"]
        report[name] = {"small": small_run, "big": big_run, "rss_cost_mb": cost}
        print(
            f"| {name} | {big_run['upload_s']:.2f} s | {big_run['download_s']:.2f} s "
            f"| {args.mb / big_run['upload_s']:.0f} | {args.mb / big_run['download_s']:.0f} "
            f"| {small_run['peak_rss_mb']:.0f} MB | {big_run['peak_rss_mb']:.0f} MB | {cost:+.0f} MB |"
        )
    ratio_up = rows[1][2]["upload_s"] / rows[0][2]["upload_s"]
    ratio_down = rows[1][2]["download_s"] / rows[0][2]["download_s"]
    print(f"s3/local time ratio: upload {ratio_up:.1f}, download {ratio_down:.1f}")
    out = Path(__file__).with_name("out")
    out.mkdir(exist_ok=True)
    (out / "storage.json").write_text(json.dumps({"mb": args.mb, **report}, indent=2))


if __name__ == "__main__":
    main()
