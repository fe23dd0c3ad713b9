"""`make demo`: start the embedded stack, submit a generated sample talk through the REST API,
follow its progress, say where the results are, stop the stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from talkavocado_cli.stack_process import StackProcess
from talkavocado_common.api_keys import new_key

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-output"
AVOCADO = ROOT / ".venv" / "bin" / "avocado"
PORT = int(os.environ.get("DEMO_PORT", "8765"))


def say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    sample = OUT / "sample-talk.mp4"
    options = OUT / "options.json"
    say(f"generating a sample talk with long pauses and filler words: {sample}")
    truth = json.loads(
        subprocess.run(
            [AVOCADO, "sample", sample], check=True, capture_output=True, text=True
        ).stdout
    )
    options.write_text(
        json.dumps({"transitions": {"enabled": True}, "subtitles": {"burnIn": True}}, indent=2)
    )
    key = new_key()  # as `avocado keys new`: one the API accepts
    say(
        f"starting the stack (broker, API, orchestrator, audio, transcribe, render; log: {OUT / 'stack.log'})"
    )
    try:
        stack = StackProcess(
            port=PORT, storage=OUT / "storage", dev_key=key, cwd=OUT, log=OUT / "stack.log"
        ).start()
    except RuntimeError:
        say(f"the stack did not start; see {OUT / 'stack.log'}")
        return 1
    try:
        say(f"submitting it to http://127.0.0.1:{PORT} (crossfades on, subtitles burned in)")
        result = subprocess.run(
            [
                AVOCADO,
                "submit",
                sample,
                "--options",
                options,
                "--api",
                f"http://127.0.0.1:{PORT}",
                "--key",
                key,
                "--out",
                OUT / "results",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        say("stopping the stack")
        stack.stop()
    if result.returncode != 0:
        say("the job failed (see above)")
        return result.returncode
    lines = result.stdout.splitlines()
    files = [line for line in lines[1:] if line.startswith(str(OUT))]
    print()
    print(f"Source:        {sample} ({truth['durationSec']:.1f} s)")
    for path in files:
        print(f"Result:        {path}")
    print(f"All artifacts: {OUT / 'storage'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
