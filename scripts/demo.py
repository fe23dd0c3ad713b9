"""`make demo`: generate a sample talk, edit it with `avocado process`, say where the result is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-output"
AVOCADO = ROOT / ".venv" / "bin" / "avocado"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    sample = OUT / "sample-talk.mp4"
    options = OUT / "options.json"
    print(
        f"demo: generating a sample talk with long pauses and filler words: {sample}",
        file=sys.stderr,
    )
    truth = json.loads(
        subprocess.run(
            [AVOCADO, "sample", sample], check=True, capture_output=True, text=True
        ).stdout
    )
    options.write_text(
        json.dumps({"transitions": {"enabled": True}, "subtitles": {"burnIn": True}}, indent=2)
    )
    print("demo: editing it (crossfades on, subtitles burned in)", file=sys.stderr)
    proc = subprocess.run(
        [AVOCADO, "process", sample, "--options", options, "--storage", OUT / "storage"],
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        print("demo: the job failed (see above)", file=sys.stderr)
        return proc.returncode
    manifest = json.loads(proc.stdout)
    (OUT / "manifest.json").write_text(proc.stdout)
    storage = OUT / "storage"
    final = next(r for r in manifest["renders"] if r["kind"] == "final")
    subtitles = [s["key"] for s in manifest["subtitles"] if s["kind"] == "final"]
    print()
    print(f"Source:        {sample} ({truth['durationSec']:.1f} s)")
    print(f"Edited video:  {storage / final['key']} ({final['durationSec']:.1f} s)")
    for key in subtitles:
        print(f"Subtitles:     {storage / key}")
    print(f"Cut plan:      {storage / manifest['plan']['cutPlan']}")
    print(f"Manifest:      {OUT / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
