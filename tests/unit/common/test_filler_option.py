"""`planner.fillers`: the model accepts exactly the fillers the contract's schema accepts. JSON
Schema patterns are ECMA-262 regular expressions, whose \\s is not Python's (no \\x1c-\\x1f or
\\x85, but \\ufeff), and a client (schemathesis found one) may send any of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydantic
from hypothesis import given
from hypothesis import strategies as st

from talkavocado_common.models import PlannerOptions
from talkavocado_common.models.options import MAX_FILLER_CHARS

ROOT = Path(__file__).resolve().parents[3]
# ECMA-262 WhiteSpace and LineTerminator: what \s means in a JSON Schema pattern.
ECMA_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
TRICKY = "ab \t\n\v\x1c\x1f\x85\u00a0\u2028\ufeff."


def schema_item() -> dict[str, object]:
    schema = json.loads((ROOT / "contracts" / "job-options.schema.json").read_text())
    item: dict[str, object] = schema["$defs"]["PlannerOptions"]["properties"]["fillers"]["items"]
    return item


def schema_accepts(filler: str) -> bool:
    item = schema_item()
    ecma = str(item["pattern"]).replace("\\S", f"[^{ECMA_SPACE}]").replace("\\s", f"[{ECMA_SPACE}]")
    return len(filler) <= int(str(item["maxLength"])) and re.search(ecma, filler) is not None


def model_accepts(filler: str) -> bool:
    try:
        PlannerOptions(fillers=[filler])
    except pydantic.ValidationError:
        return False
    return True


@given(st.text(alphabet=TRICKY, max_size=MAX_FILLER_CHARS + 2))
def test_the_model_accepts_what_the_schema_accepts(filler: str) -> None:
    assert model_accepts(filler) == schema_accepts(filler), repr(filler)


def test_words_are_the_schemas_words() -> None:
    # Four words to the schema (\x1f and \x85 are not white space there), five to str.split().
    assert PlannerOptions(fillers=["a\x1fb c d\x85e f"]).fillers == ["a\x1fb c d\x85e f"]
    assert PlannerOptions(fillers=["  You\ufeffKnow\u2028 "]).fillers == ["you know"]
    assert not model_accepts("a b c d e")
    assert not model_accepts(" \ufeff ")
