"""The supported subset of Amazon States Language (docs/architecture.md §2): a parsed, validated state
machine and pure helpers to walk it. No I/O here; runners (the CLI, the orchestrator) feed it.

Anything outside the subset is refused at load time, naming the state and the reason.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALL_ERRORS = "States.ALL"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"


class AslError(ValueError):
    """The document is not in the supported subset."""


@dataclass(frozen=True)
class Retrier:
    error_equals: tuple[str, ...]
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | None = None
    jitter: bool = False

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds before retry number `retry_number` (1-based), as ASL computes it."""
        base = self.interval_seconds * self.backoff_rate ** (retry_number - 1)
        if self.max_delay_seconds is not None:
            base = min(base, self.max_delay_seconds)
        if self.jitter:
            base = (rng or random.Random()).uniform(0, base)
        return base


@dataclass(frozen=True)
class Catcher:
    error_equals: tuple[str, ...]
    next: str
    result_path: str | None = "$"


@dataclass(frozen=True)
class ChoiceRule:
    next: str | None  # only top-level rules have Next
    variable: str | None = None
    boolean_equals: bool | None = None
    string_equals: str | None = None
    is_present: bool | None = None
    and_: tuple[ChoiceRule, ...] = ()
    or_: tuple[ChoiceRule, ...] = ()
    not_: ChoiceRule | None = None

    def matches(self, data: Any) -> bool:
        if self.and_:
            return all(r.matches(data) for r in self.and_)
        if self.or_:
            return any(r.matches(data) for r in self.or_)
        if self.not_ is not None:
            return not self.not_.matches(data)
        assert self.variable is not None
        present, value = lookup(data, self.variable)
        if self.is_present is not None:
            return present == self.is_present
        if not present:
            return False
        if self.boolean_equals is not None:
            return isinstance(value, bool) and value == self.boolean_equals
        if self.string_equals is not None:
            return isinstance(value, str) and value == self.string_equals
        return False


@dataclass(frozen=True)
class State:
    name: str
    type: str
    next: str | None = None
    end: bool = False


@dataclass(frozen=True)
class TaskState(State):
    resource: str = ""
    result_path: str | None = "$"
    timeout_seconds: float | None = None
    heartbeat_seconds: float | None = None
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()

    @property
    def service(self) -> str:
        return self.resource.split(":", 1)[0]

    @property
    def step(self) -> str:
        return self.resource.split(":", 1)[1]

    def retrier_for(self, error: str) -> Retrier | None:
        return next((r for r in self.retry if matches_error(r.error_equals, error)), None)

    def catcher_for(self, error: str) -> Catcher | None:
        return next((c for c in self.catch if matches_error(c.error_equals, error)), None)


@dataclass(frozen=True)
class ChoiceState(State):
    choices: tuple[ChoiceRule, ...] = ()
    default: str | None = None

    def choose(self, data: Any) -> str:
        for rule in self.choices:
            if rule.matches(data):
                assert rule.next is not None
                return rule.next
        if self.default is None:
            raise AslError(f"state {self.name!r}: no choice matched and there is no Default")
        return self.default


@dataclass(frozen=True)
class PassState(State):
    result: Any = None
    result_path: str | None = "$"


@dataclass(frozen=True)
class FailState(State):
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class StateMachine:
    start_at: str
    states: Mapping[str, State] = field(default_factory=dict)
    timeout_seconds: float | None = None

    def __getitem__(self, name: str) -> State:
        return self.states[name]


def matches_error(error_equals: tuple[str, ...], error: str) -> bool:
    if error in error_equals:
        return True
    # States.ALL matches every error except none; ASL says it does not match States.Runtime,
    # which this subset never raises.
    return ALL_ERRORS in error_equals


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """A reference path `$`, `$.a.b` -> (present, value)."""
    current = data
    for key in _path_keys(path):
        if not isinstance(current, Mapping) or key not in current:
            return False, None
        current = current[key]
    return True, current


def assign(data: Mapping[str, Any], path: str | None, value: Any) -> Any:
    """ASL ResultPath: `None` keeps the input, `$` replaces it, `$.a.b` sets a field (copying)."""
    if path is None:
        return data
    keys = _path_keys(path)
    if not keys:
        return value
    root: dict[str, Any] = dict(data)
    node = root
    for key in keys[:-1]:
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, Mapping) else {}
        node = node[key]
    node[keys[-1]] = value
    return root


def _path_keys(path: str) -> list[str]:
    if path == "$":
        return []
    if not path.startswith("$.") or any(c in path for c in "[]*?@"):
        raise AslError(f"unsupported path {path!r}: only $ and $.field.field are supported")
    keys = path[2:].split(".")
    if any(not k for k in keys):
        raise AslError(f"malformed path {path!r}")
    return keys


_COMMON = {"Type", "Comment", "Next", "End"}
_ALLOWED = {
    "Task": _COMMON
    | {"Resource", "Retry", "Catch", "TimeoutSeconds", "HeartbeatSeconds", "ResultPath"},
    "Choice": {"Type", "Comment", "Choices", "Default"},
    "Pass": _COMMON | {"Result", "ResultPath"},
    "Succeed": {"Type", "Comment"},
    "Fail": {"Type", "Comment", "Error", "Cause"},
}
_RETRY_KEYS = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
}
_CATCH_KEYS = {"ErrorEquals", "Next", "ResultPath"}
_COMPARATORS = {"BooleanEquals", "StringEquals", "IsPresent"}


def load(document: Mapping[str, Any]) -> StateMachine:
    """Parse and validate a state machine document."""
    if not isinstance(document, Mapping):
        raise AslError("the state machine must be a JSON object")
    unknown = set(document) - {"Comment", "StartAt", "States", "TimeoutSeconds", "Version"}
    if unknown:
        raise AslError(f"unsupported top-level fields: {', '.join(sorted(unknown))}")
    raw_states = document.get("States")
    if not isinstance(raw_states, Mapping) or not raw_states:
        raise AslError("'States' must be a non-empty object")
    states = {name: _parse_state(name, raw) for name, raw in raw_states.items()}
    start = document.get("StartAt")
    if not isinstance(start, str) or start not in states:
        raise AslError(f"StartAt {start!r} is not a state")
    for state in states.values():
        for target in _targets(state):
            if target not in states:
                raise AslError(f"state {state.name!r}: transition to unknown state {target!r}")
    timeout = document.get("TimeoutSeconds")
    return StateMachine(
        start_at=start,
        states=states,
        timeout_seconds=_number(timeout, "machine") if timeout is not None else None,
    )


def load_file(path: Path) -> StateMachine:
    try:
        return load(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise AslError(f"{path}: not JSON ({exc})") from exc


def _targets(state: State) -> list[str]:
    targets = [state.next] if state.next else []
    if isinstance(state, TaskState):
        targets += [c.next for c in state.catch]
    if isinstance(state, ChoiceState):
        targets += [r.next for r in state.choices if r.next]
        targets += [state.default] if state.default else []
    return targets


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise AslError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)


def _parse_state(name: str, raw: Any) -> State:
    kind = _state_type(name, raw)
    where = f"state {name!r}"
    nxt, end = raw.get("Next"), bool(raw.get("End", False))
    if kind in ("Task", "Pass") and (nxt is None) == (not end):
        raise AslError(f"{where}: needs exactly one of Next or End")
    if kind == "Task":
        return _parse_task(name, raw, nxt=nxt, end=end)
    if kind == "Choice":
        return _parse_choice(name, raw)
    if kind == "Pass":
        return PassState(
            name=name,
            type=kind,
            next=nxt,
            end=end,
            result=raw.get("Result"),
            result_path=_result_path(raw),
        )
    if kind == "Fail":
        return FailState(
            name=name, type=kind, end=True, error=raw.get("Error"), cause=raw.get("Cause")
        )
    return State(name=name, type=kind, end=True)


def _state_type(name: str, raw: Any) -> str:
    """The state's Type, once the state is an object of a supported type with only its fields."""
    if not isinstance(raw, Mapping):
        raise AslError(f"state {name!r}: must be an object")
    kind = raw.get("Type")
    if kind not in _ALLOWED:
        raise AslError(
            f"state {name!r}: Type {kind!r} is not supported (supported: {', '.join(_ALLOWED)})"
        )
    unknown = set(raw) - _ALLOWED[kind]
    if unknown:
        raise AslError(
            f"state {name!r}: unsupported field(s) {', '.join(sorted(unknown))} for {kind}"
        )
    return str(kind)


def _parse_task(name: str, raw: Mapping[str, Any], *, nxt: str | None, end: bool) -> TaskState:
    where = f"state {name!r}"
    # Fields are checked as they are read, top to bottom: the first bad one is the error.
    return TaskState(
        name=name,
        type="Task",
        next=nxt,
        end=end,
        resource=_resource(where, raw.get("Resource")),
        result_path=_result_path(raw),
        timeout_seconds=_optional_number(raw, "TimeoutSeconds", where),
        heartbeat_seconds=_optional_number(raw, "HeartbeatSeconds", where),
        retry=tuple(_parse_retrier(where, r) for r in raw.get("Retry", [])),
        catch=tuple(_parse_catcher(where, c) for c in raw.get("Catch", [])),
    )


def _resource(where: str, resource: Any) -> str:
    if not isinstance(resource, str) or resource.count(":") != 1 or not all(resource.split(":")):
        raise AslError(f"{where}: Resource must be '<service>:<step>', got {resource!r}")
    return resource


def _parse_choice(name: str, raw: Mapping[str, Any]) -> ChoiceState:
    where = f"state {name!r}"
    choices = raw.get("Choices")
    if not isinstance(choices, list) or not choices:
        raise AslError(f"{where}: Choices must be a non-empty list")
    return ChoiceState(
        name=name,
        type="Choice",
        choices=tuple(_parse_rule(where, c, top=True) for c in choices),
        default=raw.get("Default"),
    )


def _result_path(raw: Mapping[str, Any]) -> str | None:
    """ResultPath (default `$`; null keeps the input), refused when it is not a supported path."""
    result_path: str | None = raw.get("ResultPath", "$")
    if result_path is not None:
        _path_keys(result_path)
    return result_path


def _optional_number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    return _number(raw[key], where) if key in raw else None


def _error_list(where: str, raw: Mapping[str, Any]) -> tuple[str, ...]:
    errors = raw.get("ErrorEquals")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        raise AslError(f"{where}: ErrorEquals must be a non-empty list of strings")
    if ALL_ERRORS in errors and len(errors) > 1:
        raise AslError(f"{where}: States.ALL must appear alone in ErrorEquals")
    return tuple(errors)


def _parse_retrier(where: str, raw: Any) -> Retrier:
    if not isinstance(raw, Mapping) or set(raw) - _RETRY_KEYS:
        raise AslError(f"{where}: Retry entries support only {', '.join(sorted(_RETRY_KEYS))}")
    jitter = raw.get("JitterStrategy", "NONE")
    if jitter not in ("FULL", "NONE"):
        raise AslError(f"{where}: JitterStrategy must be FULL or NONE")
    attempts = raw.get("MaxAttempts", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise AslError(f"{where}: MaxAttempts must be a non-negative integer")
    backoff = _number(raw.get("BackoffRate", 2.0), where)
    if backoff < 1.0:
        raise AslError(f"{where}: BackoffRate must be at least 1.0")
    return Retrier(
        error_equals=_error_list(where, raw),
        interval_seconds=_number(raw.get("IntervalSeconds", 1), where),
        max_attempts=attempts,
        backoff_rate=backoff,
        max_delay_seconds=_optional_number(raw, "MaxDelaySeconds", where),
        jitter=jitter == "FULL",
    )


def _parse_catcher(where: str, raw: Any) -> Catcher:
    if not isinstance(raw, Mapping) or set(raw) - _CATCH_KEYS or "Next" not in raw:
        raise AslError(
            f"{where}: Catch entries need ErrorEquals and Next (and optional ResultPath)"
        )
    result_path = _result_path(raw)
    return Catcher(error_equals=_error_list(where, raw), next=raw["Next"], result_path=result_path)


def _parse_rule(where: str, raw: Any, *, top: bool) -> ChoiceRule:
    if not isinstance(raw, Mapping):
        raise AslError(f"{where}: a choice rule must be an object")
    nxt = raw.get("Next")
    if top and not isinstance(nxt, str):
        raise AslError(f"{where}: every top-level choice rule needs Next")
    if not top and nxt is not None:
        raise AslError(f"{where}: nested choice rules must not have Next")
    if "And" in raw or "Or" in raw:
        key = "And" if "And" in raw else "Or"
        subs = raw[key]
        if not isinstance(subs, list) or not subs:
            raise AslError(f"{where}: {key} needs a non-empty list")
        rules = tuple(_parse_rule(where, s, top=False) for s in subs)
        return ChoiceRule(next=nxt, and_=rules) if key == "And" else ChoiceRule(next=nxt, or_=rules)
    if "Not" in raw:
        return ChoiceRule(next=nxt, not_=_parse_rule(where, raw["Not"], top=False))
    comparators = set(raw) & _COMPARATORS
    unknown = set(raw) - _COMPARATORS - {"Variable", "Next"}
    if unknown or len(comparators) != 1 or not isinstance(raw.get("Variable"), str):
        raise AslError(
            f"{where}: a choice rule needs Variable and exactly one of "
            f"{', '.join(sorted(_COMPARATORS))}{' (got ' + ', '.join(sorted(unknown)) + ')' if unknown else ''}"
        )
    _path_keys(raw["Variable"])
    (op,) = comparators
    value = raw[op]
    if op in ("BooleanEquals", "IsPresent") and not isinstance(value, bool):
        raise AslError(f"{where}: {op} needs a boolean")
    if op == "StringEquals" and not isinstance(value, str):
        raise AslError(f"{where}: StringEquals needs a string")
    return ChoiceRule(
        next=nxt,
        variable=raw["Variable"],
        boolean_equals=value if op == "BooleanEquals" else None,
        string_equals=value if op == "StringEquals" else None,
        is_present=value if op == "IsPresent" else None,
    )


def default_pipeline_path() -> Path:
    return Path(__file__).resolve().parents[4] / "contracts" / "pipeline.asl.json"


def default_revision_path() -> Path:
    """The review revision's document: the pipeline from video-cuts on (contracts/)."""
    return default_pipeline_path().with_name("revision.asl.json")


def planned_path(machine: StateMachine, data: Any, *, limit: int = 1000) -> list[TaskState]:
    """The Task states a run will pass through if no step fails (choices decided on `data`)."""
    path: list[TaskState] = []
    name: str | None = machine.start_at
    for _ in range(limit):
        if name is None:
            break
        state = machine[name]
        if isinstance(state, TaskState):
            path.append(state)
        if isinstance(state, ChoiceState):
            name = state.choose(data)
        else:
            name = None if state.end else state.next
    return path
