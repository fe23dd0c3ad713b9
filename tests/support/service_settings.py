"""The one settings class of each service, for checks that span them (README table, docker-compose
and Kubernetes environments). `python -m tests.support.service_settings` prints the README table."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from talkavocado_api.settings import ApiSettings
from talkavocado_audio.settings import AudioSettings
from talkavocado_common.config import EnvVar, env_vars
from talkavocado_notify.settings import NotifySettings
from talkavocado_orchestrator.settings import OrchestratorSettings
from talkavocado_render.settings import RenderSettings
from talkavocado_transcribe.settings import TranscribeSettings

SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "api": ApiSettings,
    "orchestrator": OrchestratorSettings,
    "audio": AudioSettings,
    "transcribe": TranscribeSettings,
    "render": RenderSettings,
    "notify": NotifySettings,
}
STEP_SERVICES = ("audio", "transcribe", "render")


def _readers(name: str) -> str:
    readers = [
        s for s, cls in SERVICE_SETTINGS.items() if any(v.name == name for v in env_vars(cls))
    ]
    if len(readers) == len(SERVICE_SETTINGS):
        return "all"
    if set(readers) == set(STEP_SERVICES):
        return "audio, transcribe, render"
    return ", ".join(readers)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def env_table() -> str:
    """Markdown table of every variable: name, default, services that read it, meaning."""
    rows: dict[str, EnvVar] = {}
    for cls in SERVICE_SETTINGS.values():
        for var in env_vars(cls):
            rows.setdefault(var.name, var)
    lines = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for var in rows.values():
        default = "(secret)" if var.secret else (f"`{var.default}`" if var.default else "—")
        lines.append(
            f"| `{var.name}` | {_cell(default)} | {_readers(var.name)} | {_cell(var.description)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(env_table(), end="")
