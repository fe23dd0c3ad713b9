"""Topic names (docs/architecture.md, "Events and topics"): a configurable prefix, one topic per role."""

from __future__ import annotations

from dataclasses import dataclass

from talkavocado_common.topology import step_services

# The step services, as talkavocado_common.topology declares them.
STEP_SERVICES = step_services()


@dataclass(frozen=True)
class Topics:
    prefix: str = "talkavocado."

    @property
    def commands(self) -> str:
        return f"{self.prefix}jobs.commands"

    def steps(self, service: str) -> str:
        if service not in STEP_SERVICES:
            raise ValueError(f"no step topic for service {service!r}")
        return f"{self.prefix}steps.{service}"

    @property
    def results(self) -> str:
        return f"{self.prefix}steps.results"

    @property
    def status(self) -> str:
        return f"{self.prefix}jobs.status"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}dlq"

    def all(self) -> list[str]:
        return [
            self.commands,
            *(self.steps(s) for s in STEP_SERVICES),
            self.results,
            self.status,
            self.dlq,
        ]
