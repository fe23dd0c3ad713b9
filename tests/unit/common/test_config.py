"""Settings classes: one per service, every variable described, the README table in step, bad
values named by their variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from talkavocado_common.config import ConfigError, env_var_names, env_vars, load_settings
from talkavocado_common.settings import KafkaSettings, StorageSettings
from tests.support.service_settings import SERVICE_SETTINGS, env_table

README = Path(__file__).resolve().parents[3] / "README.md"


class _Inner(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INNER_", extra="ignore")
    count: int = Field(1, ge=1, description="How many.")


class _Outer(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTER_", extra="ignore")
    name: str = Field("x", alias="OUTER_NAME_ALIAS", description="A name.")
    token: str = Field(description="Required.")
    inner: _Inner = Field(default_factory=_Inner)


def test_env_vars_walk_nested_groups() -> None:
    names = [v.name for v in env_vars(_Outer)]
    assert names == ["OUTER_NAME_ALIAS", "OUTER_TOKEN", "INNER_COUNT"]
    assert env_vars(_Outer)[2].default == "1"


def test_a_bad_nested_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTER_TOKEN", "t")
    monkeypatch.setenv("INNER_COUNT", "0")
    with pytest.raises(ConfigError, match=r"^INNER_COUNT='0': Input should be greater"):
        load_settings(_Outer)


def test_a_missing_value_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTER_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"^OUTER_TOKEN is not set$"):
        load_settings(_Outer)


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_S3_ADDRESSING_STYLE", "sideways")
    with pytest.raises(ConfigError, match="STORAGE_S3_ADDRESSING_STYLE='sideways'"):
        load_settings(StorageSettings)


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_every_service_loads_with_defaults_and_reads_the_shared_groups(service: str) -> None:
    settings_class = SERVICE_SETTINGS[service]
    names = env_var_names(settings_class)
    assert env_var_names(KafkaSettings) <= names
    assert {"STORAGE_URL", "AWS_ENDPOINT_URL", "LOG_FORMAT", "OTEL_TRACES_EXPORTER"} <= names
    load_settings(settings_class)


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_every_variable_is_described(service: str) -> None:
    undocumented = [v.name for v in env_vars(SERVICE_SETTINGS[service]) if not v.description]
    assert undocumented == []


def test_the_readme_table_matches_the_settings_classes() -> None:
    text = README.read_text()
    found = re.search(r"<!-- env-table:start -->\n(.*?)<!-- env-table:end -->", text, re.S)
    assert found, "README.md has no env-table markers"
    assert found.group(1) == env_table(), "README env table is stale: run `make env-table`"


def test_a_storage_outage_is_a_transient_step_error() -> None:
    from talkavocado_common.models import ErrorCode
    from talkavocado_common.step_runner import as_step_error
    from talkavocado_common.storage import NotFound, StorageError

    outage = as_step_error(StorageError("s3://media/data/x: Could not connect"))
    assert outage.code == ErrorCode.TRANSIENT_DEPENDENCY
    assert "Could not connect" in outage.message
    assert as_step_error(NotFound("a/b")).code == ErrorCode.INPUT_NOT_FOUND
