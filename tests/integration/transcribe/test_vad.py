"""Silero VAD on generated speech whose long pauses hold breaths, a click and room tone: the
speech stretches cover every sentence and none of the noises (the real model, real files)."""

from __future__ import annotations

import subprocess
import time
import wave
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from faster_whisper.vad import get_vad_model

from talkavocado_transcribe.core.vad import VadSettings, speech_seconds
from talkavocado_transcribe.vad import StreamingVad, detect_speech
from talkavocado_transcribe.wav import SAMPLE_RATE, WavReader
from tests.mediagen import Pause, Piece, Say, make_audio

SENTENCES = (
    "Welcome back to the channel.",
    "Today we look at how a recording becomes a polished cut.",
    "The first thing to notice is the rhythm of the speech.",
    "Long pauses make a video feel slow.",
    "Thanks for watching.",
)
PAUSE_SEC = 3.0
EDGE_SEC = 0.1  # a sentence's stretch may start/end this much inside its espeak edges


def db(level: float) -> float:
    return float(10 ** (level / 20))


def breath(rng: np.random.Generator, seconds: float, level_db: float) -> npt.NDArray[np.float32]:
    """Band-limited noise (300-3000 Hz) with a raised-cosine envelope: a breath's shape."""
    n = int(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[(freqs < 300) | (freqs > 3000)] = 0
    noise = np.fft.irfft(spectrum, n)
    noise *= np.hanning(n)
    rms = np.sqrt(np.mean(noise**2))
    return (noise / rms * db(level_db)).astype(np.float32)


def click() -> npt.NDArray[np.float32]:
    """A 3 ms decaying transient at -12 dBFS peak (a lip smack, a chair, a mouse)."""
    t = np.arange(int(0.003 * SAMPLE_RATE)) / SAMPLE_RATE
    return (db(-12) * np.exp(-t / 0.0007) * np.sign(np.sin(2 * np.pi * 2500 * t))).astype(
        np.float32
    )


class Noisy:
    def __init__(self, wav: Path, speech: list[Piece], noises: list[tuple[float, float, str]]):
        self.wav, self.speech, self.noises = wav, speech, noises


@pytest.fixture(scope="module")
def noisy_pauses(tmp_path_factory: pytest.TempPathFactory) -> Noisy:
    tmp = tmp_path_factory.mktemp("vad")
    script: list[Say | Pause] = [Pause(0.6)]
    for sentence in SENTENCES:
        script += [Say(sentence), Pause(PAUSE_SEC)]
    raw = tmp / "speech.wav"
    _, pieces = make_audio(script, raw)
    asr = tmp / "speech-16k.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(raw),
            "-ac",
            "1",
            "-ar",
            "16000",
            str(asr),
        ],
        check=True,
    )
    with wave.open(str(asr), "rb") as reader:
        signal = np.frombuffer(reader.readframes(reader.getnframes()), "<i2") / 32768.0
    rng = np.random.default_rng(7)
    # Room tone all through: low pink-ish noise (-60 dBFS RMS).
    tone = np.cumsum(rng.normal(0, 1, len(signal)))
    tone -= np.convolve(tone, np.ones(400) / 400, mode="same")
    signal = signal + tone / np.sqrt(np.mean(tone**2)) * db(-60)
    noises: list[tuple[float, float, str]] = []
    pauses = [p for p in pieces if p.kind == "pause" and p.duration >= PAUSE_SEC - 0.01]
    for n, pause in enumerate(pauses):
        # In each long pause: a breath (0.2-0.5 s, -30 to -40 dBFS) and, in some, a click.
        length, level = (0.2, 0.3, 0.4, 0.5, 0.35)[n], (-30.0, -33.0, -36.0, -40.0, -31.0)[n]
        at = pause.start + 0.8
        burst = breath(rng, length, level)
        first = int(at * SAMPLE_RATE)
        signal[first : first + len(burst)] += burst
        noises.append((at, at + length, f"breath {level:.0f} dBFS {length} s"))
        if n % 2 == 0:
            at = pause.start + 2.0
            first = int(at * SAMPLE_RATE)
            transient = click()
            signal[first : first + len(transient)] += transient
            noises.append((at, at + 0.003, "click"))
    out = tmp / "noisy-pauses.wav"
    with wave.open(str(out), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return Noisy(out, [p for p in pieces if p.kind == "speech"], noises)


def covered(stretches: list[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in stretches)


def test_speech_covers_every_sentence_and_no_breath_or_click(noisy_pauses: Noisy) -> None:
    with WavReader(noisy_pauses.wav, what="test") as reader:
        began = time.perf_counter()
        stretches = detect_speech(reader)
        seconds = time.perf_counter() - began
        duration = reader.duration
    print(
        f"\nVAD: {len(stretches)} stretches, {speech_seconds(stretches):.1f} s speech of "
        f"{duration:.1f} s, {seconds:.2f} s ({seconds / duration * 3600:.0f} s per audio hour)"
    )
    assert all(a < b for a, b in stretches)
    assert all(b <= c for (_, b), (c, _) in pairwise(stretches))
    for sentence in noisy_pauses.speech:
        a, b = sentence.start, sentence.end
        # Whole: its ends are inside speech, and (short in-sentence gaps aside) all of it.
        assert covered(stretches, a, a + EDGE_SEC) > 0, sentence
        assert covered(stretches, b - EDGE_SEC, b) > 0, sentence
        assert covered(stretches, a, b) >= 0.9 * (b - a), sentence
    for a, b, what in noisy_pauses.noises:
        assert covered(stretches, a - 0.05, b + 0.05) == 0, (what, a, stretches)


def test_a_stricter_threshold_still_finds_the_sentences(noisy_pauses: Noisy) -> None:
    with WavReader(noisy_pauses.wav, what="test") as reader:
        strict = detect_speech(reader, VadSettings(threshold=0.7))
    assert all(covered(strict, s.start, s.end) >= 0.8 * s.duration for s in noisy_pauses.speech)


def test_block_by_block_probabilities_equal_a_whole_signal_run(noisy_pauses: Noisy) -> None:
    with WavReader(noisy_pauses.wav, what="test") as reader:
        whole = reader.read(0, reader.samples)
    usable = len(whole) - len(whole) % 512
    whole = whole[:usable]
    reference = get_vad_model()(np.concatenate([whole, np.zeros(512, np.float32)])).reshape(-1)
    vad = StreamingVad()
    # Odd block sizes (whole frames) so the state and context cross many boundaries.
    blocks = [vad.probabilities(whole[i : i + 512 * 37]) for i in range(0, usable, 512 * 37)]
    streamed = np.concatenate(blocks)
    assert len(streamed) == usable // 512
    np.testing.assert_allclose(streamed, reference[: len(streamed)], atol=1e-5)
