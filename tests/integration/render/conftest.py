"""Render integration fixtures: generated media with known events, a local job, decoders.

The sync source is black video that flashes white for exactly one frame at x.48 s of every
second while a 40 ms beep sounds at the same instant; the beep's pitch names its second
(400 Hz + 100 Hz per second), so a beep found in a render tells where it came from.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import (
    AudioAnalysis,
    FrameRate,
    InputInfo,
    JobOptions,
    JobStatus,
    Manifest,
    Timeline,
    TimelineClip,
)
from talkavocado_common.steps import StepEnv, StepRequest, StepResult
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_render.branding import branding_layer

FPS = 25
WIDTH, HEIGHT = 320, 240
SYNC_SECONDS = 8
FLASH_FRAME_IN_SECOND = 12  # 0.48 s
BEEP_OFFSET = FLASH_FRAME_IN_SECOND / FPS
BEEP_LENGTH = 0.04
INTRO_SECONDS = 1.0
OUTRO_SECONDS = 0.8


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        capture_output=True,
    )


def beep_frequency(second: int) -> float:
    return 400.0 + 100.0 * second


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render-media")


@pytest.fixture(scope="session")
def sync_source(media_dir: Path) -> Path:
    """8 s, 320x240 @ 25 fps H.264 (GOP 1 s); mono 44.1 kHz AAC (the render resamples)."""
    out = media_dir / "sync.mp4"
    flash = f"eq(n-{FPS}*floor(n/{FPS}),{FLASH_FRAME_IN_SECOND})"
    beep = (
        f"if(between(t-floor(t),{BEEP_OFFSET},{BEEP_OFFSET + BEEP_LENGTH}),"
        "0.5*sin(2*PI*(400+100*floor(t))*t),0)"
    )
    ffmpeg(
        "-f", "lavfi",
        "-i", f"color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={SYNC_SECONDS},"
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}'",
        "-f", "lavfi",
        "-i", f"aevalsrc='{beep}':s=44100:d={SYNC_SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k",
        str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def intro_clip(media_dir: Path) -> Path:
    """A 4:1 light-grey card at 30 fps with a 440 Hz tone: must be letterboxed into 4:3."""
    out = media_dir / "intro.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=0xB4B4B4:s=400x100:r=30:d={INTRO_SECONDS}",
        "-f", "lavfi", "-i", f"sine=f=440:r=44100:d={INTRO_SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest",
        str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def outro_clip(media_dir: Path) -> Path:
    """A portrait light-grey card at 15 fps without audio: pillarboxed, silent in the render."""
    out = media_dir / "outro.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=0xB4B4B4:s=90x160:r=15:d={OUTRO_SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def logo_png(media_dir: Path) -> Path:
    out = media_dir / "logo.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(out))
    return out


def make_timeline(
    ranges: list[tuple[int, int]],
    *,
    transition_frames: int = 0,
    fps: int = FPS,
    width: int = WIDTH,
    height: int = HEIGHT,
    has_audio: bool = True,
    source_duration: float = SYNC_SECONDS,
) -> Timeline:
    """A frame-aligned timeline with the same crossfade at every join."""
    clips: list[TimelineClip] = []
    cursor = 0
    for index, (start, end) in enumerate(ranges):
        fade = transition_frames if index else 0
        placed = cursor - fade
        clips.append(
            TimelineClip(
                source_start_frame=start,
                source_end_frame=end,
                source_start=start / fps,
                source_end=end / fps,
                timeline_start=placed / fps,
                transition_in_sec=fade / fps,
            )
        )
        cursor = placed + end - start
    return Timeline(
        source_key="test/acme/job-1/input/source.mp4",
        frame_rate=FrameRate(num=fps, den=1),
        width=width,
        height=height,
        has_audio=has_audio,
        source_duration_sec=source_duration,
        clips=clips,
        duration_sec=cursor / fps,
    )


@dataclass
class Job:
    """One job in a local storage root, ready for the branding-layer step."""

    root: Path
    keys: JobKeys = field(default_factory=lambda: JobKeys("test", "acme", "job-1"))
    progress: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.storage = LocalStorage(self.root / "storage")
        self.manifests = ManifestStore(self.storage)
        self.workdir = self.root / "work"
        self.workdir.mkdir(parents=True, exist_ok=True)

    async def prepare(self, source: Path, timeline: Timeline | None) -> None:
        input_key = self.keys.input("source.mp4")
        stored = await self.storage.upload_from(source, input_key)
        now = datetime.now(UTC)
        manifest = Manifest(
            job_id=self.keys.job_id,
            tenant_id=self.keys.tenant_id,
            env=self.keys.env,
            status=JobStatus.PROCESSING,
            input=InputInfo(
                key=input_key,
                original_filename="source.mp4",
                bytes=stored.size,
                mime_type="video/mp4",
            ),
            created_at=now,
            updated_at=now,
        )
        await self.manifests.create(self.keys, manifest)
        if timeline is not None:
            await self.storage.write_bytes(self.keys.timeline, timeline.to_json_bytes())

    async def put_asset(self, name: str, path: Path) -> None:
        await self.storage.upload_from(path, self.keys.branding_asset(name))

    async def put_analysis(self, analysis: AudioAnalysis) -> None:
        await self.storage.write_bytes(self.keys.audio_analysis, analysis.to_json_bytes())

    async def put_subtitles(self, srt: str) -> None:
        await self.storage.write_bytes(self.keys.final_subtitles("srt"), srt.encode())

    def path_of(self, key: str) -> Path:
        path = self.storage.local_path(key)
        assert path is not None
        return path

    async def run(self, options: JobOptions | None = None) -> StepResult:
        request = StepRequest(
            step="branding-layer", keys=self.keys, options=options or JobOptions()
        )
        env = StepEnv(
            storage=self.storage,
            manifests=self.manifests,
            workdir=self.workdir,
            progress=lambda fraction, message="": self.progress.append(fraction),
        )
        return await branding_layer(request, env)


@pytest.fixture
def job(tmp_path: Path) -> Job:
    return Job(tmp_path)


# --- reading renders back -------------------------------------------------------------------


def probe_streams(path: Path) -> dict[str, dict[str, str]]:
    """The first video and audio stream, with exact packet counts."""
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_packets", "-print_format", "json",
            "-show_streams", "-show_format", str(path),
        ],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    doc = json.loads(out)
    streams: dict[str, dict[str, str]] = {}
    for stream in doc["streams"]:
        streams.setdefault(stream["codec_type"], stream)
    streams["format"] = doc["format"]
    return streams


def top_level_atoms(path: Path) -> list[str]:
    atoms: list[str] = []
    with open(path, "rb") as handle:
        while header := handle.read(8):
            size = int.from_bytes(header[:4], "big")
            atoms.append(header[4:].decode("latin-1"))
            if size == 1:
                size = int.from_bytes(handle.read(8), "big") - 8
            handle.seek(size - 8, 1)
    return atoms


def gray_frames(path: Path, width: int = WIDTH, height: int = HEIGHT) -> npt.NDArray[np.uint8]:
    """Every frame as 8-bit luma, shape (frames, height, width)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",
         "-pix_fmt", "gray", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width)


def rgb_frames(path: Path, width: int = WIDTH, height: int = HEIGHT) -> npt.NDArray[np.uint8]:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def channels_of(path: Path) -> int:
    """How many channels the first audio stream has."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=channels",
         "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(out.strip())


def audio_samples(path: Path, rate: int = 48_000) -> npt.NDArray[np.float32]:
    """The first audio stream as mono float samples at `rate`."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
         "-ar", str(rate), "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.float32)


def flash_frames(frames: npt.NDArray[np.uint8]) -> list[int]:
    means = frames.reshape(len(frames), -1).mean(axis=1)
    return [int(i) for i in np.flatnonzero(means > 128)]


@dataclass(frozen=True)
class Beep:
    onset: float
    frequency: float


def find_beeps(samples: npt.NDArray[np.float32], rate: int = 48_000) -> list[Beep]:
    """Onsets (first sample above a threshold after 0.1 s of quiet) and pitch of each beep."""
    loud = np.flatnonzero(np.abs(samples) > 0.05)
    beeps: list[Beep] = []
    last = -rate
    for index in loud:
        if index - last > rate // 10:
            window = samples[index : index + int(BEEP_LENGTH * rate * 0.9)]
            spectrum = np.abs(np.fft.rfft(window, n=rate))
            beeps.append(Beep(index / rate, float(np.argmax(spectrum))))
        last = index
    return beeps


# --- loudness ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loudness:
    """The EBU R128 summary of ffmpeg's ebur128 filter (true peak measured)."""

    integrated_lufs: float
    threshold_lufs: float
    range_lu: float
    true_peak_dbtp: float


_R128_SUMMARY = re.compile(
    r"Integrated loudness:\s*I:\s*(?P<i>\S+) LUFS\s*Threshold:\s*(?P<thresh>\S+) LUFS"
    r"\s*Loudness range:\s*LRA:\s*(?P<lra>\S+) LU.*?True peak:\s*Peak:\s*(?P<tp>\S+) dBFS",
    re.DOTALL,
)


def measure_loudness(path: Path, stream: str = "0:a:0") -> Loudness:
    """What the audio step measures of a recording (ebur128 with true peak, as it runs it)."""
    log = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", stream,
         "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    found = _R128_SUMMARY.search(log[log.rindex("Summary:") :])
    assert found is not None, log[-2000:]
    return Loudness(
        integrated_lufs=float(found["i"]),
        threshold_lufs=float(found["thresh"]),
        range_lu=float(found["lra"]),
        true_peak_dbtp=float(found["tp"]),
    )


def analysis_of(loudness: Loudness, duration: float) -> AudioAnalysis:
    """audio/analysis.json as the audio step writes it, with the loudness fields that matter
    here (the rest is not read by the render)."""
    return AudioAnalysis(
        duration_sec=duration,
        sample_rate=16_000,
        integrated_lufs=loudness.integrated_lufs,
        noise_floor_db=-90.0,
        speech_level_db=-20.0,
        silence_threshold_db=-40.0,
        frame_ms=20,
        min_silence_ms=300,
        silences=[],
        true_peak_dbtp=loudness.true_peak_dbtp,
        loudness_range_lu=loudness.range_lu,
        loudness_threshold_lufs=loudness.threshold_lufs,
    )
