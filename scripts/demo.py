"""`make demo`: start the embedded stack, submit a generated sample talk through the REST API,
follow its progress, say where the results are and print the review app's sign-in link to the
job; then stop the stack — or, with KEEP=1 (`make demo KEEP=1`), keep it up until Ctrl-C so the
link can be opened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from talkavocado_cli.stack_process import StackProcess
from talkavocado_cli.up import sign_in_link
from talkavocado_common.api_keys import new_key

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-output"
AVOCADO = ROOT / ".venv" / "bin" / "avocado"
PORT = int(os.environ.get("DEMO_PORT", "8765"))
KEEP = os.environ.get("KEEP", "") not in ("", "0")


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
        lines = result.stdout.splitlines()
        if result.returncode == 0:
            report(sample, truth, lines, key)
        else:
            say("the job failed (see above)")
        if result.returncode == 0 and KEEP:
            say("the stack stays up (KEEP=1): open the link above; Ctrl-C stops it")
            wait_for_interrupt(stack)
    finally:
        say("stopping the stack")
        stack.stop()
    if result.returncode == 0 and not KEEP:
        say(
            "to review it in the browser later: "
            f"{AVOCADO} up --port {PORT} --storage {OUT / 'storage'} --dev-key <the key above>, "
            "then open the link (or run `make demo KEEP=1`)"
        )
    return result.returncode


def report(sample: Path, truth: dict[str, object], lines: list[str], key: str) -> None:
    job_id = lines[0].strip() if lines else ""
    files = [line for line in lines[1:] if line.startswith(str(OUT))]
    print()
    print(f"Source:        {sample} ({truth['durationSec']:.1f} s)")
    for path in files:
        print(f"Result:        {path}")
    print(f"All artifacts: {OUT / 'storage'}")
    print(f"Dev key:       {key}")
    print(f"Review it:     {sign_in_link(f'http://127.0.0.1:{PORT}', key, job_id or None)}")
    sys.stdout.flush()


def wait_for_interrupt(stack: StackProcess) -> None:
    """Until Ctrl-C (or the stack ends by itself)."""
    try:
        while stack.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
