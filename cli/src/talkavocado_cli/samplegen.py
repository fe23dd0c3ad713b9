"""Generated talking-head samples with exact ground truth: espeak-ng speech, sox pauses, lavfi
video. Used by `avocado sample`, `make demo`, the benchmarks and the tests.

Each spoken piece is trimmed of espeak's own leading/trailing silence, so `Piece.start/end`
are where sound really begins and ends in the generated file.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SAMPLE_RATE = 22050
PieceKind = Literal["speech", "pause", "filler"]


@dataclass(frozen=True)
class Piece:
    kind: PieceKind
    text: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Recording:
    path: Path
    audio_path: Path
    duration: float
    pieces: tuple[Piece, ...]
    fps: int
    width: int
    height: int

    def of_kind(self, kind: PieceKind) -> list[Piece]:
        return [p for p in self.pieces if p.kind == kind]


@dataclass(frozen=True)
class Say:
    text: str
    filler: bool = False


@dataclass(frozen=True)
class Pause:
    seconds: float


Script = Sequence[Say | Pause]


@dataclass
class _Builder:
    workdir: Path
    parts: list[Path] = field(default_factory=list)
    counter: int = 0

    def tmp(self, stem: str) -> Path:
        self.counter += 1
        return self.workdir / f"{self.counter:04d}-{stem}.wav"


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _duration(path: Path) -> float:
    return float(_run("soxi", "-D", str(path)).strip())


def speak(text: str, out: Path, *, voice: str = "en-us", speed: int = 160) -> float:
    """espeak-ng speech trimmed of silence at both ends; returns its duration."""
    raw = out.with_suffix(".raw.wav")
    _run("espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text)
    _run(
        "sox",
        str(raw),
        "-r",
        str(SAMPLE_RATE),
        "-c",
        "1",
        "-b",
        "16",
        str(out),
        "silence",
        "1",
        "0.005",
        "0.5%",
        "reverse",
        "silence",
        "1",
        "0.005",
        "0.5%",
        "reverse",
    )
    raw.unlink()
    return _duration(out)


def silence(seconds: float, out: Path) -> None:
    _run(
        "sox",
        "-n",
        "-r",
        str(SAMPLE_RATE),
        "-c",
        "1",
        "-b",
        "16",
        str(out),
        "trim",
        "0",
        f"{seconds:.6f}",
    )


def make_audio(
    script: Script, out: Path, *, noise_amplitude: float = 0.0
) -> tuple[float, tuple[Piece, ...]]:
    """WAV of the script; optional pink background noise (a noisy room). Returns truth."""
    builder = _Builder(out.parent / f".{out.stem}-parts")
    builder.workdir.mkdir(parents=True, exist_ok=True)
    pieces: list[Piece] = []
    t = 0.0
    for item in script:
        if isinstance(item, Pause):
            part = builder.tmp("pause")
            silence(item.seconds, part)
            duration = _duration(part)
            pieces.append(Piece("pause", "", t, t + duration))
        else:
            part = builder.tmp("say")
            duration = speak(item.text, part)
            pieces.append(Piece("filler" if item.filler else "speech", item.text, t, t + duration))
        builder.parts.append(part)
        t += duration
    clean = out.with_suffix(".clean.wav")
    _run("sox", *map(str, builder.parts), str(clean))
    if noise_amplitude > 0:
        noise = out.with_suffix(".noise.wav")
        _run(
            "sox",
            "-R",  # repeatable noise: the same recording on every run
            "-n",
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            str(noise),
            "synth",
            f"{t:.6f}",
            "pinknoise",
            "vol",
            str(noise_amplitude),
        )
        _run("sox", "-m", str(clean), str(noise), str(out))
        noise.unlink()
        clean.unlink()
    else:
        clean.rename(out)
    for part in builder.parts:
        part.unlink()
    builder.workdir.rmdir()
    return t, tuple(pieces)


def make_recording(
    script: Script,
    out: Path,
    *,
    video: bool = True,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    noise_amplitude: float = 0.0,
) -> Recording:
    """A talking-head stand-in: generated speech over a lavfi test pattern, H.264/AAC MP4."""
    audio = out.with_suffix(".wav")
    duration, pieces = make_audio(script, audio, noise_amplitude=noise_amplitude)
    if video:
        _run(
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate={fps}:duration={duration:.6f}",
            "-i",
            str(audio),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(fps),
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-shortest",
            str(out),
        )
    else:
        _run(
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(audio),
            str(out),
        )
    return Recording(out, audio, duration, pieces, fps, width, height)


# A short talk with two long pauses and two fillers between pauses: the suite's main sample.
DEMO_SCRIPT: tuple[Say | Pause, ...] = (
    Pause(0.4),
    Say("Welcome to the show. Today we talk about editing video with open tools."),
    Pause(2.2),
    Say("Every single word should survive the cut."),
    Pause(0.6),
    Say("um", filler=True),
    Pause(0.6),
    Say("Long pauses are shortened to a natural gap."),
    Pause(1.8),
    Say("Filler words are removed without clipping anything else."),
    Pause(0.5),
    Say("uh", filler=True),
    Pause(0.5),
    Say("Thanks for watching, and see you next time."),
    Pause(0.8),
)


_SENTENCES = (
    "Welcome back to the channel.",
    "Today we look at how a recording becomes a polished cut.",
    "The first thing to notice is the rhythm of the speech.",
    "Long pauses make a video feel slow.",
    "Filler words distract the viewer.",
    "A good edit keeps every word and removes the rest.",
    "Subtitles follow the new timeline exactly.",
    "Branding adds an intro, an outro and a logo.",
    "All of this runs on open tools.",
    "Let us see how it works in practice.",
)
_FILLERS = ("um", "uh")


def long_script(seconds: float) -> tuple[Say | Pause, ...]:
    """A talk of about `seconds`: sentences with natural gaps, every third gap a long pause and
    every fourth sentence followed by a filler between short pauses."""
    script: list[Say | Pause] = [Pause(0.4)]
    estimate = 0.4
    index = 0
    while estimate < seconds:
        sentence = _SENTENCES[index % len(_SENTENCES)]
        script.append(Say(sentence))
        estimate += len(sentence) * 0.065
        if index % 4 == 3:
            script += [Pause(0.5), Say(_FILLERS[index % 2], filler=True), Pause(0.5)]
            estimate += 1.3
        elif index % 3 == 2:
            script.append(Pause(1.8))
            estimate += 1.8
        else:
            script.append(Pause(0.45))
            estimate += 0.45
        index += 1
    return tuple(script)
