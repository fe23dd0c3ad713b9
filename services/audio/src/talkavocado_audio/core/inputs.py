"""Is an upload a recording we can work with? Each refusal is a sentence its owner understands."""

from __future__ import annotations

from talkavocado_common.media import MediaInfo
from talkavocado_common.media.sniff import looks_like_text

# Box types an ISO base media file (MP4, MOV, M4A) starts with.
_ISO_LEADING_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
# ffmpeg log phrases that mean the input's bytes are damaged or missing, not that ffmpeg failed.
_DAMAGE_MARKERS = (
    "invalid data found",
    "moov atom not found",
    "partial file",
    "error while decoding",
    "corrupt",
    "truncat",
    "invalid nal",
    "no frame!",
    "end of file",
)
# Decoding may stop this much short of the container's duration (priming, rounding) and still
# count as whole.
_DURATION_TOLERANCE_SEC = 0.5
_DURATION_TOLERANCE_FRACTION = 0.02

EMPTY_FILE = "The uploaded file is empty (0 bytes); upload the recording again."
NO_AUDIO = (
    "The video has no sound track, so there is no speech to edit; "
    "upload a recording that includes audio."
)
NOT_MEDIA = "The file is not a video or audio recording that can be read."


def looks_like_iso_media(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in _ISO_LEADING_BOXES


def explain_unreadable(probe_message: str, head: bytes) -> str:
    """Why ffprobe could not open the file, from its message and the file's first bytes."""
    if not head:
        return EMPTY_FILE
    if looks_like_text(head):
        return f"{NOT_MEDIA} It contains text, not audio or video."
    message = probe_message.lower()
    if looks_like_iso_media(head) and ("moov atom not found" in message or "invalid" in message):
        return (
            "The MP4 file is incomplete: it was cut off before its end (an interrupted upload "
            "or copy?), so it cannot be played. Upload the whole file again."
        )
    return f"{NOT_MEDIA} Check that it is an MP4, MOV, MKV, WebM, MP3, WAV or similar file."


def media_problem(info: MediaInfo) -> str | None:
    """None when the probed file holds audio to extract; otherwise what is wrong with it."""
    if info.audio is None:
        if info.video is not None:
            return NO_AUDIO
        return f"{NOT_MEDIA} It holds no audio or video stream."
    if info.duration is not None and info.duration <= 0:
        return "The recording is empty: its sound track has no length."
    return None


def explain_decode_failure(log: str) -> str | None:
    """A sentence for a decode that failed because of the input's bytes; None when the failure
    lies elsewhere (a missing encoder, a full disk) and is ours, not the user's."""
    lowered = log.lower()
    if any(marker in lowered for marker in _DAMAGE_MARKERS):
        return (
            "The recording is damaged or incomplete and its sound could not be decoded; "
            "upload the whole, original file again."
        )
    return None


def truncation_problem(decoded_sec: float, expected_sec: float | None) -> str | None:
    """A file whose index promises more than its data holds was cut off after the index."""
    if expected_sec is None or expected_sec <= 0:
        return None
    tolerance = max(_DURATION_TOLERANCE_SEC, _DURATION_TOLERANCE_FRACTION * expected_sec)
    if decoded_sec + tolerance >= expected_sec:
        return None
    return (
        f"The recording is incomplete: it should last {expected_sec:.1f} s but its data stops "
        f"after {decoded_sec:.1f} s (an interrupted upload or copy?). Upload the whole file again."
    )
