"""Every step handler by step name: the CLI runs all services' handlers in one process."""

from __future__ import annotations

from talkavocado_common.steps import StepHandler


def all_handlers() -> dict[str, StepHandler]:
    # Imported here: loading faster-whisper and friends is only worth it when a job runs.
    from talkavocado_audio.handler import HANDLERS as AUDIO
    from talkavocado_render.handlers import HANDLERS as RENDER
    from talkavocado_transcribe.handler import HANDLERS as TRANSCRIBE

    handlers: dict[str, StepHandler] = {}
    for group in (AUDIO, TRANSCRIBE, RENDER):
        overlap = handlers.keys() & group.keys()
        if overlap:
            raise RuntimeError(f"two services claim the step(s) {sorted(overlap)}")
        handlers.update(group)
    return handlers
