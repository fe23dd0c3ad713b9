"""The smart render's progress while its video and sound branches run at once: the branch
furthest behind (pure; smart_render.slower_of)."""

from __future__ import annotations

from talkavocado_render.smart_render import slower_of


def test_progress_is_the_branch_furthest_behind() -> None:
    reported: list[float] = []
    slower = slower_of(("video", "sound"), reported.append)
    video, sound = slower("video"), slower("sound")
    video(0.5)
    sound(0.2)
    video(1.0)
    sound(0.1)  # a late, lower report of a branch does not take it back
    sound(0.9)
    sound(1.0)
    assert reported == [0.0, 0.2, 0.2, 0.2, 0.9, 1.0]
