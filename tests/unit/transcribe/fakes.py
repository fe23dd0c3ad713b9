"""Stand-ins for faster-whisper's Segment and Word (plain attributes, as core/convert reads them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeWord:
    start: float
    end: float
    word: str
    probability: float = 0.9


@dataclass
class FakeSegment:
    start: float
    end: float
    text: str
    words: list[FakeWord] | None = field(default_factory=list)
    id: int = 1
