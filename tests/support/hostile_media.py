"""Uploads built to make ffmpeg read something else (issue 10, "Media allowlist"): playlists and
file lists pointing at another file (another tenant's input, in the realistic attack), at a URL,
and an image sequence. Each is small; the real media they point at is a one-second clip.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

# Kinds whose content alone is hostile, any file name: id -> file name used.
CONTENT_KINDS = ("hls-absolute", "hls-http", "ffconcat", "concat", "hls-salted")
# ffprobe without any allowlist opens these and reports the target's streams: the attack works
# where nothing stops it (asserted, so a test cannot pass on a file that was harmless anyway).
OPENED_WITHOUT_ALLOWLIST = ("hls-absolute", "hls-salted")


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True
    )


def tiny_recording(path: Path, seconds: float = 1.0) -> Path:
    """A real recording (picture and sound) of `seconds`: the victim of the attacks. Index first
    (as browsers upload): ffmpeg then reads all of it through a playlist, not just its header."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"),
        *("-movflags", "+faststart", str(path)),
    )
    return path


def png(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "color=red:size=32x32", "-frames:v", "1", str(path))
    return path


def hls_playlist(target: str) -> bytes:
    return (f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n").encode()


def hostile_content(kind: str, victim: Path) -> bytes:
    """The bytes of an upload of `kind` (CONTENT_KINDS) aimed at `victim`'s absolute path."""
    target = str(victim.resolve())
    if kind == "hls-absolute":
        return hls_playlist(target)
    if kind == "hls-http":
        return hls_playlist("http://127.0.0.1:9/segment.ts")
    if kind == "ffconcat":
        return f"ffconcat version 1.0\nfile '{target}'\n".encode()
    if kind == "concat":
        return f"# a list of files\nfile '{target}'\n".encode()
    if kind == "hls-salted":
        # A NUL after the lines ffmpeg detects HLS by: not text to the sniff, still a playlist
        # to ffmpeg. Only the demuxer allowlist stops this one.
        return (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#\x00\x01\x02\n#EXTINF:10,\n"
            + target.encode()
            + b"\n#EXT-X-ENDLIST\n"
        )
    raise ValueError(kind)


def write_hostile(folder: Path, kind: str, victim: Path, name: str = "talk.mp4") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(hostile_content(kind, victim))
    return path


def unconfined_format(path: Path) -> tuple[str, list[str]]:
    """What ffprobe finds in `path` with no allowlist: (format_name, codec types), or ("", [])
    when it cannot open it."""
    run = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if run.returncode != 0:
        return "", []
    found = json.loads(run.stdout)
    return found["format"]["format_name"], [s["codec_type"] for s in found.get("streams", [])]
