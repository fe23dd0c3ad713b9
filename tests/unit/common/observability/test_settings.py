"""ObservabilitySettings: the four variables, their defaults and what is refused."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from talkavocado_common.observability import ObservabilitySettings

VARIABLES = ("LOG_LEVEL", "LOG_FORMAT", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = ObservabilitySettings()
    assert (
        settings.log_level,
        settings.log_format,
        settings.traces_exporter,
        settings.otlp_endpoint,
    ) == ("INFO", "json", "none", None)
    assert settings.level_number == logging.INFO


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "TEXT")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    settings = ObservabilitySettings()
    assert settings.log_level == "DEBUG"
    assert settings.level_number == logging.DEBUG
    assert settings.log_format == "text"
    assert settings.traces_exporter == "otlp"
    assert settings.otlp_endpoint == "http://collector:4318"


def test_by_field_name_too() -> None:
    settings = ObservabilitySettings(log_level="warn", traces_exporter="console")
    assert (settings.log_level, settings.traces_exporter) == ("WARNING", "console")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_LEVEL", "5"),
        ("LOG_FORMAT", "xml"),
        ("OTEL_TRACES_EXPORTER", "jaeger"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
    ],
)
def test_refused_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        ObservabilitySettings()
    error = caught.value.errors()[0]
    assert error["loc"] == (variable,)


def test_an_empty_endpoint_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")
    assert ObservabilitySettings().otlp_endpoint is None


def test_every_field_has_an_alias_and_a_description() -> None:
    fields = ObservabilitySettings.model_fields
    assert {info.alias for info in fields.values()} == set(VARIABLES)
    assert all(info.description for info in fields.values())


def test_unknown_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_COLOUR", "green")
    assert ObservabilitySettings().log_level == "INFO"
