"""The media allowlist, the first-bytes sniff, the sparse-probe ranges and the time limits:
pure functions, no ffmpeg."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from talkavocado_audio.core import extraction_args
from talkavocado_common.media import (
    LOGO_DEMUXERS,
    RECORDING_DEMUXERS,
    format_allowed,
    input_args,
    media_time_limit,
    restrict,
)
from talkavocado_common.media.allowlist import whitelist
from talkavocado_common.media.partial import (
    MAX_INDEX_BYTES,
    Box,
    find_iso_index,
    merge_ranges,
    parse_box_header,
    probe_ranges,
)
from talkavocado_common.media.probe import FormatRefused, probe_command, probe_failure
from talkavocado_common.media.sniff import looks_like_text, reference_kind, reference_refusal
from talkavocado_render.audio_feed import decoder_args

RECORDING_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,wav,mp3,ogg,flac,aac"


def test_the_recording_whitelist_names_real_containers_only() -> None:
    assert whitelist() == RECORDING_WHITELIST
    assert whitelist(LOGO_DEMUXERS) == RECORDING_WHITELIST + ",png_pipe,jpeg_pipe"
    for reference in ("hls", "concat", "image2", "sdp", "imf", "dash", "tee", "lavfi"):
        assert reference not in whitelist(LOGO_DEMUXERS).split(",")


def test_input_args_put_the_allowlist_before_each_input() -> None:
    assert input_args(Path("/w/in put.mp4")) == [
        "-protocol_whitelist", "file,pipe",
        "-format_whitelist", RECORDING_WHITELIST,
        "-i", "/w/in put.mp4",
    ]  # fmt: skip
    pcm = input_args("pipe:0", "-f", "f32le", demuxers=("f32le",), protocols=("pipe",))
    assert pcm == [
        "-protocol_whitelist", "pipe", "-format_whitelist", "f32le", "-f", "f32le", "-i", "pipe:0"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("format_name", "allowed"),
    [
        ("mov,mp4,m4a,3gp,3g2,mj2", True),
        ("matroska,webm", True),
        ("mpegts", True),
        ("wav", True),
        ("hls", False),
        ("concat", False),
        ("image2", False),
        ("png_pipe", False),  # an image is no recording
        ("webm_dash_manifest", False),  # an alias-like name is not an alias
        ("mpegtsraw", False),
        ("", False),
    ],
)
def test_format_allowed_matches_ffprobes_format_name(format_name: str, allowed: bool) -> None:
    assert format_allowed(format_name) is allowed


def test_a_logo_may_be_an_image() -> None:
    assert format_allowed("png_pipe", LOGO_DEMUXERS)
    assert format_allowed("jpeg_pipe", LOGO_DEMUXERS)
    assert not format_allowed("image2", LOGO_DEMUXERS)


def input_options(argv: list[str]) -> list[list[str]]:
    """The options before each `-i` back to the previous `-i` value (or the start)."""
    groups: list[list[str]] = []
    start = 0
    for index, arg in enumerate(argv):
        if arg == "-i":
            groups.append(argv[start:index])
            start = index + 2
    return groups


def test_audio_extraction_and_the_render_decoder_confine_their_input() -> None:
    """The argv each step hands ffmpeg carries the allowlist for the user's file."""
    extraction = extraction_args(Path("/w/in.mp4"), Path("/w/a.mp3"), Path("/w/a.wav"))
    decoder = decoder_args(Path("/w/in.mp4"))
    for argv in (extraction, decoder):
        (options,) = input_options(argv)
        assert options[-4:] == restrict()


def test_probe_command_confines_ffprobe() -> None:
    argv = probe_command(Path("/w/talk.mp4"))
    assert argv[0] == "ffprobe"
    assert argv[argv.index("-format_whitelist") + 1] == RECORDING_WHITELIST
    assert argv[argv.index("-protocol_whitelist") + 1] == "file,pipe"
    assert argv[-1] == "/w/talk.mp4"
    logo = probe_command(Path("/w/logo.png"), demuxers=LOGO_DEMUXERS)
    assert "png_pipe" in logo[logo.index("-format_whitelist") + 1]


def test_a_refusal_by_the_allowlist_is_told_apart() -> None:
    refused = probe_failure("[hls @ 0x55] Format not on whitelist 'mov'\nx: Invalid argument\n", 1)
    assert isinstance(refused, FormatRefused)
    assert "playlists" in str(refused)
    protocol = probe_failure("Protocol 'http' not on whitelist 'file,pipe'!\n", 1)
    assert isinstance(protocol, FormatRefused)
    other = probe_failure("x.mp4: Invalid data found when processing input\n", 1)
    assert not isinstance(other, FormatRefused)
    assert str(other) == "x.mp4: Invalid data found when processing input"
    assert str(probe_failure("", 3)) == "ffprobe exited with 3"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/srv/x.ts\n", "HLS"),
        (b"\xef\xbb\xbf#EXTM3U\nhttp://example.com/a.ts\n", "HLS"),
        (b"  \n#extm3u\n", "HLS"),
        (b"ffconcat version 1.0\nfile '/srv/other.mp4'\n", "ffconcat"),
        (b"# made by hand\nfile '/srv/other.mp4'\n", "concat"),
        (b"file other.mp4\nfile b.mp4\n", "concat"),
        (b"[playlist]\nFile1=http://x/a.mp3\n", "PLS"),
        (b'<?xml version="1.0"?>\n<MPD>', "XML"),
    ],
)
def test_playlists_and_file_lists_are_recognised(head: bytes, kind: str) -> None:
    found = reference_kind(head)
    assert found is not None
    assert kind in found
    refusal = reference_refusal(head)
    assert refusal is not None
    assert refusal.startswith("The file is ")
    assert "upload the video file itself" in refusal


@pytest.mark.parametrize(
    "head",
    [
        b"Meeting notes\nFile the report by Friday\n",  # prose, not a concat directive
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",  # an MP4
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",  # Matroska
        b"RIFF\x24\x08\x00\x00WAVEfmt ",  # a WAV
        b"",
    ],
)
def test_media_and_prose_are_not_playlists(head: bytes) -> None:
    assert reference_refusal(head) is None


def test_binary_media_that_happens_to_contain_a_marker_is_not_refused() -> None:
    head = b"\x00\x00\x00\x18ftypmp42" + b"#EXTM3U\n" + bytes(range(256))
    assert not looks_like_text(head)
    assert reference_refusal(head) is None


def box(kind: bytes, size: int) -> bytes:
    return struct.pack(">I4s", size, kind)


def test_box_headers_are_parsed_with_their_size_forms() -> None:
    assert parse_box_header(box(b"ftyp", 32), 0, 1000) == Box(b"ftyp", 0, 32)
    large = struct.pack(">I4sQ", 1, b"mdat", 5_000_000_000)
    assert parse_box_header(large, 32, 6_000_000_000) == Box(b"mdat", 32, 5_000_000_032)
    assert parse_box_header(box(b"mdat", 0), 40, 1000) == Box(b"mdat", 40, 1000)
    # Cut off: clipped to the file. Nonsense sizes: no box.
    assert parse_box_header(box(b"moov", 900), 500, 1000) == Box(b"moov", 500, 1000)
    assert parse_box_header(box(b"moov", 4), 0, 1000) is None
    assert parse_box_header(b"\x00\x00", 0, 1000) is None
    assert parse_box_header(struct.pack(">I4sQ", 1, b"mdat", 8), 0, 1000) is None


async def test_the_mp4_index_is_found_behind_the_media_data() -> None:
    size = 100_000_000
    layout = {0: box(b"ftyp", 24), 24: box(b"free", 8), 32: box(b"mdat", 99_000_000)}
    layout[99_000_032] = box(b"moov", size - 99_000_032)
    reads: list[tuple[int, int]] = []

    async def read(start: int, end: int) -> bytes:
        reads.append((start, end))
        return layout[start] + bytes(end - start - 8)

    head = layout[0] + bytes(16) + layout[24] + layout[32] + bytes(64)
    index = await find_iso_index(read, head, size)
    assert index == Box(b"moov", 99_000_032, size)
    assert reads == [(99_000_032, 99_000_048)], "only the header behind the head is read"
    assert await find_iso_index(read, b"\x1a\x45\xdf\xa3" + bytes(60), size) is None


async def test_a_box_walk_that_never_ends_gives_up() -> None:
    async def read(start: int, end: int) -> bytes:
        return box(b"free", 8)

    assert await find_iso_index(read, box(b"ftyp", 8), 10**12) is None


def test_probe_ranges_copy_head_tail_and_index_only() -> None:
    mib = 1024 * 1024
    size = 2000 * mib
    index = Box(b"moov", 1000 * mib, 1003 * mib)
    ranges = probe_ranges(size, index, head=8 * mib, tail=8 * mib)
    assert ranges == [(0, 8 * mib), (1000 * mib, 1003 * mib), (size - 8 * mib, size)]
    assert sum(b - a for a, b in ranges) == 19 * mib
    # A small file is copied whole, once.
    assert probe_ranges(5 * mib, None, head=8 * mib, tail=8 * mib) == [(0, 5 * mib)]
    # An index beyond reason is not fetched.
    huge = Box(b"moov", 10 * mib, 10 * mib + MAX_INDEX_BYTES + 1)
    assert probe_ranges(size, huge, head=mib, tail=mib) == [(0, mib), (size - mib, size)]
    assert merge_ranges([(5, 10), (0, 5), (8, 20), (30, 40)], 35) == [(0, 20), (30, 35)]


def test_time_limits_follow_the_media_with_a_floor() -> None:
    assert media_time_limit(None, floor=600, per_media_second=2) == 600
    assert media_time_limit(0.0, floor=600, per_media_second=2) == 600
    assert media_time_limit(float("nan"), floor=600, per_media_second=2) == 600
    assert media_time_limit(100, floor=600, per_media_second=2) == 600
    assert media_time_limit(7200, floor=600, per_media_second=2) == 14_400


def test_the_recording_list_is_the_logo_list_minus_images() -> None:
    assert set(LOGO_DEMUXERS) - set(RECORDING_DEMUXERS) == {"png_pipe", "jpeg_pipe"}
