"""Generated talking-head samples with exact ground truth: espeak-ng speech, generated pauses and
non-speech sounds, lavfi video. Used by `avocado sample`, `make demo`, the benchmarks and the tests.

Each spoken piece is trimmed of espeak's own leading/trailing silence, so `Piece.start/end`
are where sound really begins and ends in the generated file. Non-speech sounds (breaths,
clicks, chair thumps) are pieces of their own, so tests know exactly where they are. Everything
is deterministic: noise comes from seeded generators (numpy, `sox -R`).

The WAV is written as a stream, part after part, and identical utterances are synthesised once:
a two-hour talk is thousands of parts, which neither sox's argument list nor espeak's speed
would take well one by one.
"""

from __future__ import annotations

import subprocess
import wave
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 22050
PieceKind = Literal["speech", "pause", "filler", "breath", "click", "thump"]
NoiseKind = Literal["breath", "click", "thump"]
RoomTone = Literal["pink", "brown"]

Int16 = npt.NDArray[np.int16]
Floats = npt.NDArray[np.float64]


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
    gain_db: float = 0.0  # a level swing: the speaker leans in or turns away (clips at full scale)


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Noise:
    """A non-speech sound inside a pause, at `level_db` dBFS (RMS for a breath or a thump,
    peak for a click). `seconds` is ignored for a click (a few milliseconds)."""

    kind: NoiseKind
    seconds: float = 0.3
    level_db: float | None = None  # None: the kind's default
    seed: int = 0


Script = Sequence[Say | Pause | Noise]

_NOISE_LEVEL_DB: dict[NoiseKind, float] = {"breath": -35.0, "click": -20.0, "thump": -30.0}
CLICK_SECONDS = 0.004


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


def _read_wav(path: Path) -> Int16:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)


def _to_int16(samples: Floats) -> Int16:
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


def _db(level_db: float) -> float:
    return float(10 ** (level_db / 20))


def _fade(n: int, fade: int) -> Floats:
    """1.0 with raised-cosine ramps of `fade` samples at both ends."""
    envelope = np.ones(n)
    fade = min(fade, n // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
        envelope[:fade] = ramp
        envelope[n - fade :] = ramp[::-1]
    return envelope


def breath(seconds: float, level_db: float, seed: int) -> Floats:
    """Breath-like noise: white noise band-limited to ~300-5000 Hz with a downward tilt,
    swelling in and out, at `level_db` dBFS RMS."""
    n = max(round(seconds * SAMPLE_RATE), 2)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    band = (freqs > 300) & (freqs < 5000)
    spectrum *= np.where(band, 1.0 / np.sqrt(np.maximum(freqs, 1.0) / 300), 0.0)
    shaped = np.fft.irfft(spectrum, n) * _fade(n, int(0.4 * n))
    rms = float(np.sqrt(np.mean(shaped**2))) or 1.0
    return shaped * (_db(level_db) / rms)


def click(level_db: float, seed: int) -> Floats:
    """A mouth click or a tap: a few milliseconds of a decaying 2-3 kHz ring, `level_db` peak."""
    n = round(CLICK_SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    frequency = 2000 + 1000 * np.random.default_rng(seed).random()
    ring = np.sin(2 * np.pi * frequency * t) * np.exp(-t / 0.0008)
    return ring * (_db(level_db) / float(np.max(np.abs(ring))))


def thump(seconds: float, level_db: float) -> Floats:
    """A chair's low thump: 55 and 90 Hz with a fast attack and a decay, `level_db` dBFS RMS."""
    n = max(round(seconds * SAMPLE_RATE), 2)
    t = np.arange(n) / SAMPLE_RATE
    body = np.sin(2 * np.pi * 55 * t) + 0.6 * np.sin(2 * np.pi * 90 * t)
    shaped = body * np.exp(-t / (seconds / 4)) * _fade(n, int(0.005 * SAMPLE_RATE))
    rms = float(np.sqrt(np.mean(shaped**2))) or 1.0
    return shaped * (_db(level_db) / rms)


def noise_samples(item: Noise) -> Floats:
    level = item.level_db if item.level_db is not None else _NOISE_LEVEL_DB[item.kind]
    if item.kind == "breath":
        return breath(item.seconds, level, item.seed)
    if item.kind == "click":
        return click(level, item.seed)
    return thump(item.seconds, level)


class _Voice:
    """espeak-ng utterances as samples, each text synthesised once (long talks repeat)."""

    def __init__(self, workdir: Path, capacity: int = 64) -> None:
        self.workdir = workdir
        self.capacity = capacity
        self.cache: OrderedDict[str, Int16] = OrderedDict()

    def say(self, text: str) -> Int16:
        if text in self.cache:
            self.cache.move_to_end(text)
            return self.cache[text]
        part = self.workdir / "say.wav"
        speak(text, part)
        samples = _read_wav(part)
        part.unlink()
        self.cache[text] = samples
        if len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        return samples


def _rms_db(path: Path) -> float:
    stats = subprocess.run(
        ["sox", str(path), "-n", "stats"], check=True, capture_output=True, text=True
    ).stderr
    line = next(line for line in stats.splitlines() if line.startswith("RMS lev dB"))
    return float(line.split()[-1])


def _add_background(
    clean: Path,
    out: Path,
    seconds: float,
    *,
    color: RoomTone,
    volume: float | None,
    level_db: float | None,
) -> None:
    """Mix continuous noise under the whole recording (sox streams it: any length)."""
    noise = out.with_suffix(".noise.wav")
    synth = [
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
        f"{seconds:.6f}",
        f"{color}noise",
    ]
    if level_db is None:
        # The original noisy room: pink noise at an amplitude, mixed at sox's default 1/n each.
        _run(*synth, "vol", str(volume))
        _run("sox", "-R", "-m", str(clean), str(noise), str(out))
    else:
        _run(*synth, "vol", "0.25")
        gain = _db(level_db - _rms_db(noise))
        _run("sox", "-R", "-m", "-v", "1", str(clean), "-v", f"{gain:.8f}", str(noise), str(out))
    noise.unlink()


def make_audio(
    script: Script,
    out: Path,
    *,
    noise_amplitude: float = 0.0,
    room_tone_db: float | None = None,
    room_tone: RoomTone = "brown",
) -> tuple[float, tuple[Piece, ...]]:
    """WAV of the script; optional pink background noise (`noise_amplitude`, a noisy room) or
    continuous room tone at `room_tone_db` dBFS RMS. Returns the length and the truth."""
    workdir = out.parent / f".{out.stem}-parts"
    workdir.mkdir(parents=True, exist_ok=True)
    voice = _Voice(workdir)
    pieces: list[Piece] = []
    position = 0  # in samples, so the truth is exact
    clean = out.with_suffix(".clean.wav")
    with wave.open(str(clean), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        for item in script:
            if isinstance(item, Pause):
                samples = np.zeros(round(item.seconds * SAMPLE_RATE), dtype=np.int16)
                piece = Piece("pause", "", 0, 0)
            elif isinstance(item, Noise):
                samples = _to_int16(noise_samples(item))
                piece = Piece(item.kind, "", 0, 0)
            else:
                samples = voice.say(item.text)
                if item.gain_db:
                    samples = _to_int16(samples.astype(np.float64) / 32767.0 * _db(item.gain_db))
                piece = Piece("filler" if item.filler else "speech", item.text, 0, 0)
            start = position / SAMPLE_RATE
            position += len(samples)
            pieces.append(Piece(piece.kind, piece.text, start, position / SAMPLE_RATE))
            wav.writeframes(samples.astype("<i2").tobytes())
    workdir.rmdir()
    total = position / SAMPLE_RATE
    if noise_amplitude > 0 or room_tone_db is not None:
        _add_background(
            clean,
            out,
            total,
            color="pink" if room_tone_db is None else room_tone,
            volume=noise_amplitude,
            level_db=room_tone_db,
        )
        clean.unlink()
    else:
        clean.replace(out)
    return total, tuple(pieces)


def make_recording(
    script: Script,
    out: Path,
    *,
    video: bool = True,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    noise_amplitude: float = 0.0,
    room_tone_db: float | None = None,
    room_tone: RoomTone = "brown",
) -> Recording:
    """A talking-head stand-in: generated speech over a lavfi test pattern, H.264/AAC MP4."""
    audio = out.with_suffix(".wav")
    duration, pieces = make_audio(
        script,
        audio,
        noise_amplitude=noise_amplitude,
        room_tone_db=room_tone_db,
        room_tone=room_tone,
    )
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


# Speech as it comes out of a real room, every sentence 6 dB under espeak's level so the loud
# swing does not clip. Pauses hold breaths, a click, a chair thump or only the room tone (mixed
# under everything by `make_recording(..., room_tone_db=MESSY_ROOM_TONE_DB)`); one pause holds a
# quiet but real answer that must survive the edit.
_BASE_DB = -6.0
MESSY_ROOM_TONE_DB = -55.0
MESSY_QUIET_WORDS = "Yes, exactly."
MESSY_SCRIPT: tuple[Say | Pause | Noise, ...] = (
    Pause(0.4),
    Say("Welcome to the workshop on editing spoken video.", gain_db=_BASE_DB),
    Pause(0.6),
    Noise("breath", 0.35, -34.0, seed=1),
    Pause(0.9),
    Say("Real rooms are never completely silent.", gain_db=_BASE_DB - 6),
    Pause(0.5),
    Noise("click"),
    Pause(0.5),
    Noise("breath", 0.3, -38.0, seed=2),
    Pause(0.6),
    Say("A chair may creak while the speaker thinks.", gain_db=_BASE_DB + 6),
    Pause(0.7),
    Noise("thump", 0.25),
    Pause(0.9),
    Say("Now listen for the quiet answer.", gain_db=_BASE_DB),
    Pause(0.7),
    Say(MESSY_QUIET_WORDS, gain_db=_BASE_DB - 14),
    Pause(0.7),
    Say("The room tone hums along under everything.", gain_db=_BASE_DB),
    Pause(2.0),
    Say("Then the speaker hesitates for a moment.", gain_db=_BASE_DB),
    Pause(0.5),
    Say("Subtitles must match what the viewer hears.", gain_db=_BASE_DB),
    Pause(1.6),
    Noise("breath", 0.45, -31.0, seed=3),
    Pause(0.3),
    Say("Thanks for listening, and goodbye.", gain_db=_BASE_DB),
    Pause(0.6),
)

# Fillers said right before (or right after) a long pause: Whisper tiny.en writes them after
# the pause, overlapping the next word ("Uh..." 1.2 s late), or as a zero-length word at the
# next sentence's start; the sound is where the script puts it. Each filler is 0.3 s from the
# speech beside it: a filler run into a word (under ~0.15 s of quiet) is one sound with it, and
# is kept whole rather than cut on Whisper's guess of the boundary.
MISPLACED_FILLER_SCRIPT: tuple[Say | Pause | Noise, ...] = (
    Pause(0.4),
    Say("Then the speaker hesitates for a moment.", gain_db=_BASE_DB),
    Pause(0.3),
    Say("uh", filler=True, gain_db=_BASE_DB),
    Pause(1.5),
    Say("Subtitles must match what the viewer hears.", gain_db=_BASE_DB),
    Pause(1.5),
    Say("um", filler=True, gain_db=_BASE_DB),
    Pause(0.3),
    Say("We keep every word that was said.", gain_db=_BASE_DB),
    Pause(0.3),
    Say("umm", filler=True, gain_db=_BASE_DB),
    Pause(1.2),
    Say("Only the sounds we cut disappear.", gain_db=_BASE_DB),
    Pause(0.5),
)
