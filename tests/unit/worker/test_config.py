"""Configuration of a step-service process: a bad value is one clear line and exit code 2."""

from __future__ import annotations

import pytest

from talkavocado_common.worker import ConfigError, WorkerSettings, load_config, main


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("METRICS_PORT", "SHUTDOWN_GRACE_SECONDS", "KAFKA_IDEMPOTENCE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_config("render")
    assert settings.kafka.idempotence is True
    assert settings.metrics_port == 9100
    assert settings.shutdown_grace_seconds == 30


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_PORT", "9200")
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "4.5")
    monkeypatch.setenv("WORKER_MAX_IN_FLIGHT", "2")
    settings = WorkerSettings()
    assert (settings.metrics_port, settings.shutdown_grace_seconds, settings.max_in_flight) == (
        9200,
        4.5,
        2,
    )
    assert WorkerSettings(metrics_port=0).metrics_port == 0  # by field name too


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METRICS_PORT": "http"}, "METRICS_PORT='http': Input should be a valid integer"),
        ({"KAFKA_PARTITIONS": "0"}, "KAFKA_PARTITIONS='0': Input should be greater than"),
        ({"SHUTDOWN_GRACE_SECONDS": "-1"}, "SHUTDOWN_GRACE_SECONDS='-1'"),
        (
            {"KAFKA_SESSION_TIMEOUT_MS": "2000", "KAFKA_HEARTBEAT_INTERVAL_MS": "3000"},
            "must be below KAFKA_SESSION_TIMEOUT_MS",
        ),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config("audio")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"METRICS_PORT": "-3"}, "METRICS_PORT"),
        ({"STORAGE_URL": "ftp://x"}, "storage 'ftp://x'"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_main_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    needle: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main("audio", {}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("talkavocado-audio: bad configuration: ")
    assert needle in err


def test_unknown_service_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="no step topic for service 'video'"):
        load_config("video")
