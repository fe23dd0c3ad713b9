"""Benchmark: the smart render (copied GOPs, re-encoded edges) against the full encode.

For each length, a generated talk-like recording (testsrc2 at 25 fps, H.264 veryfast with a
keyframe every 2 s as OBS and most streaming tools write it, or every --gop seconds; generated
speech for sound, talkavocado_cli.samplegen's talk: the AAC encoder's cost depends on the sound,
and with its fast coder a steady tone takes about 3x longer than speech) is cut the way a talk
is: kept stretches of 2.5-7 s, pauses of 0.3-1.8 s removed (a fixed seed). The same
timeline is rendered both ways with the render's default options and loudness normalisation,
one after the other in this run: wall and CPU times, the ratios full / smart, and how much of
the smart render was copied (CPU time says more than wall time on a shared machine). The edit's
sound (gain, true-peak limiter and AAC, the same work in both renders) is then made once more
alone: the part of either render no copying can save. The recording's sound is mono, as the
generated speech is, or stereo with --channels 2 (the render keeps a mono recording mono).
Figures are printed (and saved under bench/out/), never asserted: these machines are shared and
noisy.

    .venv/bin/python -m bench.render [--lengths 60,300] [--size 1280x720] [--gop 2] [--channels 1]
"""

from __future__ import annotations

import asyncio
import random
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from bench.runs import lengths_of, lengths_parser, save
from talkavocado_cli.samplegen import long_script, make_audio
from talkavocado_common.cpus import effective_cpus
from talkavocado_common.models import FrameRate, RenderOptions, Timeline, TimelineClip
from talkavocado_render.audio_feed import run_piped, run_render
from talkavocado_render.core.filtergraph import build_render
from talkavocado_render.core.loudness import Normalisation
from talkavocado_render.core.smart import build_sound
from talkavocado_render.core.timeline import layout
from talkavocado_render.smart_render import plan_for, smart_render

FPS = 25
GOP_SECONDS = 2
# As the audio step would have measured a speech recording: +7 dB puts its peaks over the
# ceiling, so the limited mode (the gain, then the oversampled true-peak limiter) runs.
LOUDNESS = Normalisation(-16.0, -1.5, -23.0, -3.0)


def cpu_seconds() -> float:
    """CPU time of this process (the sound's edit runs on a thread here) and its children."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def make_source(
    out: Path, seconds: float, size: str, gop_seconds: float = GOP_SECONDS, channels: int = 1
) -> None:
    speech = out.with_suffix(".wav")
    make_audio(long_script(seconds), speech)
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}:duration={seconds}",
            "-i", str(speech),
            "-af", "apad", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-g", str(round(FPS * gop_seconds)),
            "-c:a", "aac", "-b:a", "128k", "-ac", str(channels),
            str(out),
        ],
        check=True,
    )  # fmt: skip


def talk_timeline(seconds: float, size: str, seed: int = 11, fade_frames: int = 0) -> Timeline:
    """Kept stretches of 2.5-7 s with 0.3-1.8 s pauses cut between them, on the frame grid; with
    `fade_frames`, a crossfade of that many frames at every join (bench/render_fleet.py)."""
    width, height = (int(v) for v in size.split("x"))
    rng = random.Random(seed)
    total = int(seconds * FPS)
    clips: list[TimelineClip] = []
    start = round(rng.uniform(0.2, 0.6) * FPS)
    while start < total - FPS:
        end = min(total, start + round(rng.uniform(2.5, 7.0) * FPS))
        fade = fade_frames if clips else 0
        clips.append(
            TimelineClip(
                source_start_frame=start,
                source_end_frame=end,
                source_start=0.0,
                source_end=0.0,
                timeline_start=0.0,
                transition_in_sec=fade / FPS,
            )
        )
        start = end + round(rng.uniform(0.3, 1.8) * FPS)
    rate = FrameRate(num=FPS, den=1)
    placed, duration = layout(clips, rate)  # the render's own placement of clips
    return Timeline(
        source_key="bench/source.mp4",
        frame_rate=rate,
        width=width,
        height=height,
        has_audio=True,
        source_duration_sec=seconds,
        clips=placed,
        duration_sec=duration,
    )


async def full(timeline: Timeline, source: Path, out: Path, channels: int) -> float:
    began = time.perf_counter()
    plan = build_render(
        timeline,
        source,
        out,
        RenderOptions(),
        source_has_audio=True,
        source_channels=channels,
        filtergraph_script=out.with_suffix(".filtergraph"),
        threads=effective_cpus(),
        loudness=LOUDNESS,
    )
    out.with_suffix(".filtergraph").write_text(plan.filtergraph, encoding="utf-8")
    await run_render(plan)
    return time.perf_counter() - began


async def smart(
    timeline: Timeline, source: Path, out: Path, channels: int
) -> tuple[float, dict[str, int]]:
    began = time.perf_counter()
    plan = await plan_for(timeline, source, None, timeline.source_duration_sec)
    await smart_render(
        plan,
        timeline,
        source,
        out,
        out.parent / "smart-work",
        RenderOptions(),
        source_has_audio=True,
        loudness=LOUDNESS,
        threads=effective_cpus(),
        source_channels=channels,
    )
    pieces = {
        "pieces": len(plan.pieces),
        "copiedFrames": plan.copied_frames,
        "encodedFrames": plan.encoded_frames,
    }
    return time.perf_counter() - began, pieces


async def sound_alone(timeline: Timeline, source: Path, out: Path, channels: int) -> None:
    """The edit's sound as the smart render makes it (build_sound: the full render's graph and
    encoder settings, in two processes)."""
    plan = build_sound(
        timeline,
        source,
        out,
        RenderOptions(),
        source_has_audio=True,
        loudness=LOUDNESS,
        threads=effective_cpus(),
        source_channels=channels,
    )
    await run_piped(plan.make, plan.encode_args)


def bench_one(
    seconds: float, size: str, workdir: Path, gop: float, channels: int = 1
) -> dict[str, object]:
    source = workdir / f"talk-{int(seconds)}s.mp4"
    make_source(source, seconds, size, gop, channels)
    timeline = talk_timeline(seconds, size)
    began = cpu_seconds()
    smart_sec, pieces = asyncio.run(smart(timeline, source, workdir / "smart.mp4", channels))
    smart_cpu = cpu_seconds() - began
    full_sec = asyncio.run(full(timeline, source, workdir / "full.mp4", channels))
    full_cpu = cpu_seconds() - began - smart_cpu
    sound_began = cpu_seconds()
    asyncio.run(sound_alone(timeline, source, workdir / "sound.m4a", channels))
    sound_cpu = cpu_seconds() - sound_began
    return {
        "recordingSec": seconds,
        "size": size,
        "gopSec": gop,
        "channels": channels,
        "editedSec": round(timeline.duration_sec, 2),
        "cuts": len(timeline.clips) - 1,
        **pieces,
        "fullRenderSec": round(full_sec, 2),
        "smartRenderSec": round(smart_sec, 2),
        "ratioFullToSmart": round(full_sec / smart_sec, 2),
        "fullRenderCpuSec": round(full_cpu, 1),
        "smartRenderCpuSec": round(smart_cpu, 1),
        "cpuRatioFullToSmart": round(full_cpu / smart_cpu, 2),
        "soundCpuSec": round(sound_cpu, 1),
    }


def report(result: dict[str, object]) -> str:
    copied = int(result["copiedFrames"])  # type: ignore[call-overload]
    encoded = int(result["encodedFrames"])  # type: ignore[call-overload]
    return "\n".join(
        [
            f"\n== {result['recordingSec']} s recording at {result['size']}, a keyframe every "
            f"{result['gopSec']} s, {'mono' if result['channels'] == 1 else 'stereo'} sound -> "
            f"{result['editedSec']} s edit, {result['cuts']} cuts ==",
            f"full render   {result['fullRenderSec']:>8} s",
            f"smart render  {result['smartRenderSec']:>8} s  ({result['pieces']} pieces, "
            f"{100 * copied / (copied + encoded):.0f} % of frames copied, "
            f"{100 * encoded / (copied + encoded):.0f} % re-encoded)",
            f"full / smart  {result['ratioFullToSmart']:>8}x  (goal >= 5 for 5 min)",
            f"CPU s (user+sys, all processes): full {result['fullRenderCpuSec']}, smart "
            f"{result['smartRenderCpuSec']}, ratio {result['cpuRatioFullToSmart']}x",
            f"the sound alone (gain, limiter and AAC, in both): {result['soundCpuSec']} CPU s",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = lengths_parser(__doc__, "60,300")
    parser.add_argument(
        "--gop", type=float, default=GOP_SECONDS, help="seconds between the source's keyframes"
    )
    parser.add_argument(
        "--channels",
        type=int,
        choices=(1, 2),
        default=1,
        help="the recording's sound: 1 (mono, as generated speech is; default) or 2",
    )
    args = parser.parse_args(argv)
    results = []
    for length in lengths_of(args.lengths):
        with tempfile.TemporaryDirectory(prefix="avocado-bench-render-") as tmp:
            result = bench_one(length, args.size, Path(tmp), args.gop, args.channels)
        print(report(result), flush=True)
        results.append(result)
    save("render", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
