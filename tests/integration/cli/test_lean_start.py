"""`avocado process` starts lean (issue 11): the local path imports no Kafka, faust, FastAPI,
metrics server or tracing, the transcription engine is imported by the
model preload rather than before the first step, and a model that cannot load is the
transcription step's clear error with no thread left behind. Ctrl-C stops a run at once, also
in the middle of the transcription (whose thread cannot be interrupted).

The imports are checked in fresh interpreters: the test process has imported everything."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from talkavocado_cli.main import main
from talkavocado_cli.samplegen import long_script, make_recording
from tests.support.hostile_media import tiny_recording

# Modules only another path needs: the step services' worker runtime (Kafka, metrics server,
# tracing), the API, the orchestrator, S3, and the Hugging Face hub's HTTP client. (A handler may
# read settings of its own with pydantic-settings; `process` itself does not need it.)
NOT_ON_THE_LOCAL_PATH = (
    "aiokafka",
    "kafka",
    "faust",
    "mode",
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "opentelemetry",
    "aioboto3",
    "aiobotocore",
    "boto3",
    "botocore",
    "httpx",
)
# Imported by the preload thread (and the step), not before the first step.
THE_ENGINE = ("faster_whisper", "ctranslate2", "talkavocado_transcribe.engine")

REPORT = """
import json, sys, threading
loaded = sorted({name.split(".")[0] for name in sys.modules} | set(sys.modules))
print(json.dumps({
    "loaded": [n for n in loaded if n in set(sys.argv[1:])],
    "threads": [t.name for t in threading.enumerate()],
}))
"""


def run_python(code: str, *watched: str, cwd: Path | None = None) -> dict[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", code + REPORT, *watched],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, list[str]] = json.loads(proc.stdout.splitlines()[-1])
    return report


def test_the_command_and_its_handlers_import_no_service_machinery() -> None:
    report = run_python(
        "import talkavocado_cli.main, talkavocado_cli.local_runner\n"
        "from talkavocado_common.topology import load_handlers\n"
        "load_handlers()\n",
        *NOT_ON_THE_LOCAL_PATH,
        *THE_ENGINE,
    )
    assert report["loaded"] == []


def test_a_whole_run_imports_no_service_machinery(tmp_path: Path) -> None:
    source = tiny_recording(tmp_path / "talk.mp4", seconds=2.0)
    report = run_python(
        "import sys\n"
        "from talkavocado_cli.main import main\n"
        f"code = main(['process', {str(source)!r}, '-q', '--storage', 'storage'])\n"
        "assert code == 0, code\n",
        *NOT_ON_THE_LOCAL_PATH,
        cwd=tmp_path,
    )
    assert report["loaded"] == []
    assert not [t for t in report["threads"] if t.startswith("talkavocado-preload")]


def test_a_model_that_cannot_load_fails_the_transcription_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tiny_recording(tmp_path / "talk.mp4")
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"transcription": {"model": str(tmp_path / "no-model")}}))
    storage = tmp_path / "storage"
    code = main(
        ["process", str(source), "-q", "--storage", str(storage), "--options", str(options)]
    )
    out, err = capsys.readouterr()
    assert code == 1, err
    manifest = json.loads(out)
    assert manifest["steps"]["audio-extraction"]["status"] == "succeeded"
    assert manifest["error"]["step"] == "transcription"
    assert manifest["error"]["code"] == "INPUT_INVALID"
    assert "no-model does not exist" in manifest["error"]["message"]
    assert "avocado: error: INPUT_INVALID: The transcription model directory" in err
    assert "Traceback" not in err
    assert not [t for t in threading.enumerate() if t.name.startswith("talkavocado-preload")]


def test_ctrl_c_in_the_transcription_stops_the_command_at_once(tmp_path: Path) -> None:
    source = make_recording(long_script(40), tmp_path / "talk.mp4", width=160, height=120).path
    avocado = Path(sys.executable).with_name("avocado")
    with subprocess.Popen(
        [str(avocado), "process", str(source), "--storage", str(tmp_path / "storage")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # Python leaves SIGINT ignored when its parent ignored it (a background job).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as proc:
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                if "transcription ..." in line:
                    break
            time.sleep(1.0)  # the model is loaded: Whisper or the VAD is running in its thread
            proc.send_signal(signal.SIGINT)
            began = time.monotonic()
            rest = proc.stderr.read()
            code = proc.wait(60)
            stopped = time.monotonic() - began
        finally:
            proc.kill()
    assert code == 130, rest
    assert rest.rstrip().endswith("avocado: interrupted")
    assert stopped < 10, f"the command took {stopped:.1f} s to stop"
