"""A person's edits over the automatic cut plan: the review app's keep/cut toggles.

`apply_edits` is pure. Edits are stretches of the source (seconds) marked keep or cut, applied
in order over the planner's plan, later ones winning where they overlap. The result is a
CutPlan like the planner's: regions covering the whole recording, a stretch whose action an
edit changed has the reason `edited`, every word kept or cut with the region its middle falls
in, and the statistics counted again. An edit that agrees with the plan changes nothing, so the
planner's reasons (and the quiet it measured at a keep region's edges) stay where it is right.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from ..models import ContractModel, CutPlan, PlanRegion, PlanStats, PlanWord

MAX_EDITS = 1000
# Edits may reach this far past the recording's end (a player's last frame, rounding): clamped.
_END_SLACK_SEC = 0.05
_DECIMALS = 3

Action = Literal["keep", "cut"]


class PlanEdit(ContractModel):
    """Keep or cut one stretch of the source, whatever the plan decided there."""

    start: float = Field(ge=0, description="Seconds into the source recording.")
    end: float = Field(gt=0, description="Seconds into the source recording (exclusive).")
    action: Action


class EditError(ValueError):
    """An edit that cannot apply to this plan; the message says which and why."""


def check_edits(plan: CutPlan, edits: Sequence[PlanEdit]) -> None:
    """Raise EditError unless every edit lies inside the recording and has start < end."""
    if len(edits) > MAX_EDITS:
        raise EditError(f"{len(edits)} edits; at most {MAX_EDITS} are accepted")
    for number, edit in enumerate(edits, 1):
        if edit.start >= edit.end:
            raise EditError(f"edit {number}: start ({edit.start}) must be before end ({edit.end})")
        if edit.start >= plan.duration_sec:
            raise EditError(
                f"edit {number}: starts at {edit.start} s, after the recording's end "
                f"({plan.duration_sec} s)"
            )
        if edit.end > plan.duration_sec + _END_SLACK_SEC:
            raise EditError(
                f"edit {number}: ends at {edit.end} s, after the recording's end "
                f"({plan.duration_sec} s)"
            )


def apply_edits(plan: CutPlan, edits: Sequence[PlanEdit]) -> CutPlan:
    """The plan with `edits` applied in order (checked first: EditError)."""
    check_edits(plan, edits)
    if not edits:
        return plan
    regions = _regions(_pieces(plan, edits))
    words = _words(plan.words, regions) if plan.words is not None else None
    if words is not None:
        regions = [_with_text(region, words) for region in regions]
    return plan.model_copy(
        update={
            "regions": regions,
            "words": words,
            "stats": plan_stats(plan.duration_sec, regions),
        }
    )


def plan_stats(duration: float, regions: Sequence[PlanRegion]) -> PlanStats:
    """Kept and removed seconds, and the cuts counted by reason."""
    kept = sum(r.end - r.start for r in regions if r.action == "keep")
    by_reason: dict[str, int] = {}
    for region in regions:
        if region.action == "cut":
            by_reason[region.reason] = by_reason.get(region.reason, 0) + 1
    return PlanStats(
        source_duration_sec=_t(duration),
        kept_duration_sec=_t(kept),
        removed_duration_sec=_t(duration - kept),
        cuts_by_reason=dict(sorted(by_reason.items())),
    )


@dataclass(frozen=True)
class _Piece:
    """A stretch between two consecutive boundaries (of regions or edits) and its outcome."""

    start: float
    end: float
    region: PlanRegion  # the plan region it lies in
    edited: Action | None  # the action an edit changed it to; None: as the plan said

    def joins(self, other: _Piece) -> bool:
        """Same outcome: the same plan region unedited, or edited to the same action."""
        if self.edited is not None or other.edited is not None:
            return self.edited == other.edited
        return self.region is other.region


def _t(value: float) -> float:
    return round(value, _DECIMALS)


def _pieces(plan: CutPlan, edits: Sequence[PlanEdit]) -> list[_Piece]:
    duration = plan.duration_sec
    clamped = [(min(e.start, duration), min(e.end, duration), e.action) for e in edits]
    cuts = {r.start for r in plan.regions} | {r.end for r in plan.regions}
    cuts |= {start for start, _, _ in clamped} | {end for _, end, _ in clamped}
    bounds = sorted(b for b in cuts if 0 <= b <= duration)
    starts = [r.start for r in plan.regions]
    pieces: list[_Piece] = []
    for start, end in itertools.pairwise(bounds):
        middle = (start + end) / 2
        region = plan.regions[max(0, bisect_right(starts, middle) - 1)]
        wanted = _last_edit_over(clamped, middle)
        edited = wanted if wanted is not None and wanted != region.action else None
        pieces.append(_Piece(start, end, region, edited))
    return pieces


def _last_edit_over(edits: Sequence[tuple[float, float, Action]], at: float) -> Action | None:
    for start, end, action in reversed(edits):
        if start <= at < end:
            return action
    return None


def _regions(pieces: Sequence[_Piece]) -> list[PlanRegion]:
    """Consecutive pieces with the same outcome become one region: unedited pieces of a plan
    region that; an edited stretch one `edited` region."""
    runs: list[list[_Piece]] = []
    for piece in pieces:
        if runs and runs[-1][-1].joins(piece):
            runs[-1].append(piece)
        else:
            runs.append([piece])
    return [_region(run[0].start, run[-1].end, run[0]) for run in runs]


def _region(start: float, end: float, piece: _Piece) -> PlanRegion:
    if piece.edited is not None:
        return PlanRegion(start=_t(start), end=_t(end), action=piece.edited, reason="edited")
    region = piece.region
    if (start, end) == (region.start, region.end):
        return region
    # What is left of a plan region an edit cut into: the quiet the planner measured holds
    # only at the edges the two still share.
    length = end - start
    lead = region.lead_silence_sec if start == region.start else None
    trail = region.trail_silence_sec if end == region.end else None
    return region.model_copy(
        update={
            "start": _t(start),
            "end": _t(end),
            "lead_silence_sec": None if lead is None else _t(min(lead, length)),
            "trail_silence_sec": None if trail is None else _t(min(trail, length)),
        }
    )


def _words(words: Sequence[PlanWord], regions: Sequence[PlanRegion]) -> list[PlanWord]:
    """Each word kept or cut with the region its middle falls in."""
    starts = [r.start for r in regions]
    placed = []
    for word in words:
        region = regions[max(0, bisect_right(starts, (word.start + word.end) / 2) - 1)]
        if word.action == region.action:
            placed.append(word)
        else:
            placed.append(
                PlanWord(start=word.start, end=word.end, word=word.word, action=region.action)
            )
    return placed


def _with_text(region: PlanRegion, words: Sequence[PlanWord]) -> PlanRegion:
    """An edited cut names the words it removes, like the planner's filler cuts."""
    if region.reason != "edited" or region.action != "cut":
        return region
    inside = [w.word.strip() for w in words if region.start <= (w.start + w.end) / 2 < region.end]
    return region.model_copy(update={"text": " ".join(inside) or None})
