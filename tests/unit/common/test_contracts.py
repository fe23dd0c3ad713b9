"""Models and the JSON Schemas in contracts/ must not drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from talkavocado_common.contracts import CONTRACT_MODELS, render, schema_for
from talkavocado_common.models import JobOptions

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts"


@pytest.mark.parametrize("filename", sorted(CONTRACT_MODELS))
def test_committed_schema_matches_model(filename: str) -> None:
    committed = (CONTRACTS / filename).read_text()
    assert committed == render(schema_for(filename)), (
        f"contracts/{filename} and its model differ: run `make contracts` and review the diff"
    )


@pytest.mark.parametrize("filename", sorted(CONTRACT_MODELS))
def test_schema_is_valid_2020_12(filename: str) -> None:
    schema = json.loads((CONTRACTS / filename).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _validator(filename: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((CONTRACTS / filename).read_text()))


def test_default_options_validate_against_schema() -> None:
    _validator("job-options.schema.json").validate(JobOptions().to_jsonable())


def test_schema_rejects_what_the_model_rejects() -> None:
    bad: dict[str, Any] = {"planner": {"minPauseMs": 10}}
    assert list(_validator("job-options.schema.json").iter_errors(bad))
    with pytest.raises(ValueError, match=r"min_pause_ms|minPauseMs"):
        JobOptions.model_validate(bad)


def test_options_use_camel_case_on_the_wire() -> None:
    dumped = JobOptions().to_jsonable()
    assert "minPauseMs" in dumped["planner"]
    assert "burnIn" in dumped["subtitles"]
