"""The one ffmpeg run of the audio step: decode once, write three outputs from the same samples."""

from __future__ import annotations

from pathlib import Path

from talkavocado_common.media import input_args

ASR_SAMPLE_RATE = 16_000
MP3_BITRATE = "128k"


def extraction_args(source: Path, mp3: Path, wav: Path, *, audio_stream: int = 0) -> list[str]:
    """ffmpeg arguments: the source's audio split three ways — an MP3 for listening, a 16 kHz
    mono 16-bit WAV for speech recognition and analysis, and the EBU R128 meter with true peak
    (its summary goes to the log: the integrated loudness and true peak the final encode's gain
    and limiter are set from, in one pass; the per-frame log is kept below the default log
    level, so the log does not grow with the recording's length)."""
    graph = ";".join(
        (
            f"[0:a:{audio_stream}]asplit=3[listen][asr][meter]",
            # MP3 holds at most two channels; surround is folded down rather than refused.
            "[listen]aformat=channel_layouts=stereo|mono[mp3]",
            f"[asr]aresample={ASR_SAMPLE_RATE},"
            f"aformat=sample_fmts=s16:sample_rates={ASR_SAMPLE_RATE}:channel_layouts=mono[wav]",
            "[meter]ebur128=framelog=verbose:peak=true[loudness]",
        )
    )
    # Bit-exact outputs without metadata: the same input gives byte-identical files.
    reproducible = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
    return [
        # The user's file, confined to real containers and local files (media/allowlist.py).
        *input_args(source),
        "-filter_complex",
        graph,
        "-map",
        "[mp3]",
        "-c:a",
        "libmp3lame",
        "-b:a",
        MP3_BITRATE,
        *reproducible,
        str(mp3),
        "-map",
        "[wav]",
        "-c:a",
        "pcm_s16le",
        *reproducible,
        str(wav),
        "-map",
        "[loudness]",
        "-f",
        "null",
        "-",
    ]
