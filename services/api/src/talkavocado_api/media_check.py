"""Is an upload a recording the pipeline can edit? Pure decisions on ffprobe's findings.

Each refusal is one sentence its owner understands (it ends up in the 422 and the manifest).
"""

from __future__ import annotations

from talkavocado_common.media import MediaInfo
from talkavocado_common.media.sniff import looks_like_text

NOT_MEDIA = "The file is not a video recording that can be read."
NO_AUDIO = "The video has no sound track, so there is no speech to edit; upload it with its audio."
NO_VIDEO = (
    "The file holds only audio; TalkAvocado edits video recordings, so upload the video itself."
)
EMPTY_MEDIA = "The recording is empty: it has no length."


def explain_unreadable(head: bytes) -> str:
    """Why ffprobe could not open the file, from its first bytes."""
    if looks_like_text(head):
        return f"{NOT_MEDIA} It contains text, not audio or video."
    return f"{NOT_MEDIA} Check that it is an MP4, MOV, MKV or WebM file and that it is complete."


def media_problem(info: MediaInfo) -> str | None:
    """None when the probed file is a recording with picture and sound, else what is wrong."""
    if info.audio is None and info.video is None:
        return f"{NOT_MEDIA} It holds no audio or video stream."
    if info.audio is None:
        return NO_AUDIO
    if info.video is None:
        return NO_VIDEO
    if info.duration is not None and info.duration <= 0:
        return EMPTY_MEDIA
    return None


def describe(info: MediaInfo) -> str:
    """A short summary for the manifest's log."""
    parts: list[str] = []
    if info.duration is not None:
        parts.append(f"{info.duration:.1f} s")
    if info.video is not None:
        parts.append(f"{info.video.codec_name} {info.video.width}x{info.video.height}")
    if info.audio is not None:
        parts.append(f"{info.audio.codec_name} audio")
    return ", ".join(parts) or info.format_name
