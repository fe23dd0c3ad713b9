"""JSON Schemas of the contracts, generated from the models.

`contracts/*.schema.json` are committed; `python -m talkavocado_common.contracts` rewrites them
and tests/unit/test_contracts.py fails when a model and its committed schema drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .events import EVENT_TYPES, CloudEvent
from .models import AudioAnalysis, CutPlan, JobOptions, Manifest, Timeline, Transcript

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_ID = "https://talkavocado.dev/contracts/"

CONTRACT_MODELS: dict[str, type[BaseModel]] = {
    "manifest.schema.json": Manifest,
    "transcript.schema.json": Transcript,
    "audio-analysis.schema.json": AudioAnalysis,
    "cut-plan.schema.json": CutPlan,
    "timeline.schema.json": Timeline,
    "job-options.schema.json": JobOptions,
    "events/cloudevent.schema.json": CloudEvent,
    **{f"events/{event_type}.schema.json": model for event_type, model in EVENT_TYPES.items()},
}


def schema_for(filename: str) -> dict[str, Any]:
    model = CONTRACT_MODELS[filename]
    body = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_BASE_ID + filename, **body}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def contracts_dir() -> Path:
    return Path(__file__).resolve().parents[4] / "contracts"


def main(argv: list[str] | None = None) -> int:
    target = Path(argv[0]) if argv else contracts_dir()
    for filename in CONTRACT_MODELS:
        (target / filename).parent.mkdir(parents=True, exist_ok=True)
        (target / filename).write_text(render(schema_for(filename)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
