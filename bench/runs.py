"""What the benchmarks over recording lengths share: their command line (--lengths, --size) and
where their figures are saved (bench/out/<name>.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def lengths_parser(doc: str | None, default_lengths: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lengths",
        default=default_lengths,
        help=f"recording lengths in seconds (default {default_lengths})",
    )
    parser.add_argument("--size", default="1280x720", help="video size (default 1280x720)")
    return parser


def lengths_of(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def save(name: str, results: list[dict[str, Any]]) -> None:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nsaved {path}")
