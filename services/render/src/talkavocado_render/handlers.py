"""The render service's steps by name."""

from __future__ import annotations

from talkavocado_common.steps import StepHandler

from .branding import HANDLERS as BRANDING
from .edit_steps import HANDLERS as EDITING

HANDLERS: dict[str, StepHandler] = {**EDITING, **BRANDING}
