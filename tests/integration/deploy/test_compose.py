"""docker-compose.yml: valid for Compose, and wired the way the services read their settings.

`docker-compose config` validates and normalizes the file without a Docker engine (anchors and
merge keys resolved, `${VAR:-default}` interpolated); the checks run on that output. The
`docker-compose` command comes from scripts/bootstrap.sh (Debian package docker-compose).
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from talkavocado_cli.submit import DEFAULT_TENANT
from talkavocado_common.api_keys import check_key
from tests.integration.deploy.test_dockerfiles import (
    DOCKERFILE,
    SERVICE_ARG,
    image,
    pipeline_destinations,
)

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICES = ("api", "orchestrator", "audio", "transcribe", "render", "notify")
STEP_SERVICES = ("audio", "transcribe", "render")
PORT_VARIABLE = {
    "api": "API_PORT",
    "orchestrator": "ORCHESTRATOR_WEB_PORT",
    "audio": "METRICS_PORT",
    "transcribe": "METRICS_PORT",
    "render": "METRICS_PORT",
    "notify": "METRICS_PORT",
}
RESTARTS = ("always", "unless-stopped", "on-failure")
ESSENTIAL = ("KAFKA_BOOTSTRAP_SERVERS", "STORAGE_URL", "AWS_ENDPOINT_URL")
# Variables of the shell that would change the interpolated file; the test reads the defaults.
OVERRIDES = (
    "TALKAVOCADO_API_KEYS",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "NOTIFY_ALLOW_PRIVATE_DESTINATIONS",
)
# The API keys have no default: Compose refuses to start without them. The tests set this one.
TEST_KEYS = f"{DEFAULT_TENANT}:j9Wpksf_PSSp3rgp_p-nHuUEkUq4ntcsg9b-Z4fZlfE"

Service = dict[str, Any]


def compose_config(**variables: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with the shell's overrides replaced by `variables`."""
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail(
            "the docker-compose command is not installed; scripts/bootstrap.sh installs it "
            "(Debian: apt-get install docker-compose). `docker-compose config` validates "
            "docker-compose.yml without a Docker engine."
        )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in OVERRIDES and not key.startswith(("COMPOSE_", "DOCKER_"))
    }
    return subprocess.run(
        [executable, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**env, **variables},
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = compose_config(TALKAVOCADO_API_KEYS=TEST_KEYS)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def services(compose: dict[str, Any]) -> dict[str, Service]:
    found: dict[str, Service] = compose["services"]
    return found


def environment(service: Service) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def seconds(duration: str | int | float) -> float:
    """A Compose duration ("1m30s", "150s", "500ms") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    assert parts, f"bad duration {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def health_test(service: Service) -> str:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    assert test, "no healthcheck test"
    assert not check.get("disable"), "healthcheck disabled"
    return " ".join(test) if isinstance(test, list) else str(test)


def published_ports(service: Service) -> set[tuple[str, str]]:
    """(published, target) pairs from the short ("8000:8000") or long syntax."""
    pairs: set[tuple[str, str]] = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.add((str(port.get("published", "")), str(port["target"])))
        else:
            *host, target = str(port).split("/")[0].split(":")
            pairs.add((host[-1] if host else "", target))
    return pairs


def mount(volume: str | dict[str, Any]) -> tuple[str, str]:
    """(source, target) of a volume in the short ("name:/path:rw") or long syntax."""
    if isinstance(volume, dict):
        return str(volume.get("source", "")), str(volume["target"])
    source, target, *_ = [*volume.split(":"), ""]
    return (source, target) if target else ("", source)


def pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
    return digest.startswith("sha256:") or (
        tag not in ("", "latest") and bool(re.search(r"\d", tag))
    )


def test_the_file_is_valid_compose(compose: dict[str, Any]) -> None:
    assert set(SERVICES) <= set(services(compose)), sorted(services(compose))
    for name, service in services(compose).items():
        if name != "minio-init":  # the one-shot job
            assert service.get("restart") in RESTARTS, f"{name}: restart {service.get('restart')}"
        if "image" in service and "build" not in service:
            assert pinned(service["image"]), f"{name}: image {service['image']!r} is not pinned"


def test_kafka_is_a_single_kraft_node(compose: dict[str, Any]) -> None:
    every = services(compose)
    assert not [n for n, s in every.items() if "zookeeper" in (n + s.get("image", "")).lower()]
    kafka = every["kafka"]
    assert kafka["image"].startswith("apache/kafka:"), kafka["image"]
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) == 1
    assert voters[0].startswith(f"{node}@")
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert f"{controller}://" in env["KAFKA_LISTENERS"]
    for setting in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[setting] == "1", f"{setting}={env[setting]} on one node"
    # Topics come from the services with their partition count, never from a typo'd name.
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "/opt/kafka/bin/" in health_test(kafka)

    # The address every service bootstraps from is one the broker advertises.
    advertised = {
        urlparse(listener).netloc for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    for name in SERVICES:
        servers = environment(every[name])["KAFKA_BOOTSTRAP_SERVERS"].split(",")
        assert set(servers) <= advertised, f"{name}: {servers} not among {sorted(advertised)}"


def test_minio_and_a_one_shot_bucket_creation(compose: dict[str, Any]) -> None:
    every = services(compose)
    minio, init = every["minio"], every["minio-init"]
    assert minio["image"].startswith(("minio/minio:", "quay.io/minio/minio:"))
    assert health_test(minio)
    assert init["image"].startswith(("minio/mc:", "quay.io/minio/mc:"))
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert str(init.get("restart", "no")) == "no"
    script = " ".join(init.get("entrypoint", []) + init.get("command", []))

    credentials = environment(minio)
    for name in SERVICES:
        env = environment(every[name])
        storage = urlparse(env["STORAGE_URL"])
        assert storage.scheme == "s3", f"{name}: STORAGE_URL={env['STORAGE_URL']} is not S3"
        assert re.search(rf"mc mb\b[^\n]*/{re.escape(storage.netloc)}\b", script), (
            f"minio-init does not create the bucket {storage.netloc!r} of {name}"
        )
        endpoint = urlparse(env["AWS_ENDPOINT_URL"])
        assert endpoint.hostname == "minio", f"{name}: AWS_ENDPOINT_URL={endpoint.geturl()}"
        assert env["AWS_ACCESS_KEY_ID"] == credentials["MINIO_ROOT_USER"]
        assert env["AWS_SECRET_ACCESS_KEY"] == credentials["MINIO_ROOT_PASSWORD"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_built_from_the_one_dockerfile(compose: dict[str, Any], name: str) -> None:
    build = services(compose)[name]["build"]
    assert Path(build["context"]).resolve() == ROOT, "the build context is the repository root"
    assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    # The build argument selects the service's stage and virtualenv; a target would skip both.
    assert (build.get("args") or {}).get(SERVICE_ARG) == name, f"{name}: build args {build}"
    assert "target" not in build, f"{name}: build target {build['target']}"
    command = image(name).last("CMD")
    assert command is not None, f"{name}: the image has no CMD"
    assert f"talkavocado_{name}" in command.args, f"{name}: the image runs {command.args}"


@pytest.mark.parametrize("name", SERVICES)
def test_service_health_restart_and_start_order(compose: dict[str, Any], name: str) -> None:
    service = services(compose)[name]
    port = environment(service)[PORT_VARIABLE[name]]
    test = health_test(service)
    assert f"127.0.0.1:{port}/healthz" in test or f"localhost:{port}/healthz" in test, test
    assert service.get("restart") in RESTARTS, f"{name}: restart {service.get('restart')}"

    depends = service.get("depends_on")
    assert isinstance(depends, dict), f"{name}: depends_on without conditions"
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["minio-init"]["condition"] == "service_completed_successfully"
    if name == "api":  # the orchestrator creates the topics the API produces to
        assert depends["orchestrator"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", SERVICES)
def test_environment_is_what_the_settings_class_reads(compose: dict[str, Any], name: str) -> None:
    try:
        support = importlib.import_module("tests.support.service_settings")
        config = importlib.import_module("talkavocado_common.config")
    except ImportError as exc:
        pytest.fail(f"the settings registry is missing ({exc}): cannot check {name}'s variables")
    env = environment(services(compose)[name])
    known: set[str] = config.env_var_names(support.SERVICE_SETTINGS[name])
    unknown = sorted(set(env) - known)
    assert not unknown, f"{name}: variables its settings class does not read: {unknown}"
    missing = [variable for variable in ESSENTIAL if not env.get(variable)]
    assert not missing, f"{name}: {missing} not set"


def test_shared_settings_are_the_same_everywhere(compose: dict[str, Any]) -> None:
    every = services(compose)
    shared = [
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_TOPIC_PREFIX",
        "KAFKA_PARTITIONS",
        "KAFKA_REPLICATION_FACTOR",
        "STORAGE_URL",
        "TALKAVOCADO_ENV",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
    ]
    for variable in shared:
        values = {name: environment(every[name]).get(variable) for name in SERVICES}
        assert len(set(values.values())) == 1, f"{variable} differs: {values}"
    partitions = environment(every["kafka"])["KAFKA_NUM_PARTITIONS"]
    assert environment(every["api"])["KAFKA_PARTITIONS"] == partitions


@pytest.mark.parametrize("name", STEP_SERVICES)
def test_step_service_may_finish_its_step_before_it_is_killed(
    compose: dict[str, Any], name: str
) -> None:
    service = services(compose)[name]
    env = environment(service)
    grace = float(env["SHUTDOWN_GRACE_SECONDS"])
    assert env["WORKER_MAX_IN_FLIGHT"] == "1"
    assert "stop_grace_period" in service, f"{name}: Compose would SIGKILL after 10 s"
    assert seconds(service["stop_grace_period"]) > grace, (
        f"{name}: stop_grace_period {service['stop_grace_period']} is not above "
        f"SHUTDOWN_GRACE_SECONDS={grace:g}"
    )


def test_orchestrator_runs_the_pipeline_in_its_image_and_keeps_its_data(
    compose: dict[str, Any],
) -> None:
    orchestrator = services(compose)["orchestrator"]
    env = environment(orchestrator)
    assert env["ORCHESTRATOR_PIPELINE"] in pipeline_destinations(image("orchestrator")), (
        f"ORCHESTRATOR_PIPELINE={env['ORCHESTRATOR_PIPELINE']} is not where the image has it"
    )
    named = set(compose.get("volumes") or {})
    mounts = [mount(volume) for volume in orchestrator.get("volumes", [])]
    assert any(
        source in named and target == env["ORCHESTRATOR_DATA_DIR"] for source, target in mounts
    ), f"ORCHESTRATOR_DATA_DIR={env['ORCHESTRATOR_DATA_DIR']} is not on a named volume"


def test_no_storage_volume_is_shared_between_services(compose: dict[str, Any]) -> None:
    """Objects live in MinIO: the services share no directory."""
    owners: dict[str, list[str]] = {}
    for name in SERVICES:
        for volume in services(compose)[name].get("volumes", []):
            owners.setdefault(mount(volume)[0], []).append(name)
    shared = {source: names for source, names in owners.items() if len(names) > 1}
    assert not shared, f"volumes shared between services: {shared}"


def test_api_is_published_and_configured_for_clients(compose: dict[str, Any]) -> None:
    api = services(compose)["api"]
    env = environment(api)
    assert ("8000", env["API_PORT"]) in published_ports(api)
    assert env["API_HOST"] == "0.0.0.0"  # inside the container; the host binds loopback
    assert env["API_PUBLIC_URL"] == "http://localhost:8000"
    assert env["API_KEYS"] == TEST_KEYS  # the operator's keys, no default
    tenant, _, key = env["API_KEYS"].split(",")[0].partition(":")
    assert tenant == DEFAULT_TENANT
    assert check_key(key) == key
    assert int(env["MAX_UPLOAD_BYTES"]) > 0
    for name in ("orchestrator", *STEP_SERVICES, "notify"):
        assert not published_ports(services(compose)[name]), f"{name} publishes a port"


def published_addresses(service: Service) -> set[str]:
    """The host addresses a service's ports are published on ("" for every interface)."""
    found: set[str] = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.add(str(port.get("host_ip", "")))
        else:
            parts = str(port).split("/")[0].split(":")
            found.add(parts[0] if len(parts) == 3 else "")
    return found


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    """Nothing is reachable from other machines: not the API, not MinIO's root login."""
    for name, service in services(compose).items():
        if service.get("ports"):
            assert published_addresses(service) == {"127.0.0.1"}, (
                f"{name} publishes {service['ports']} beyond this machine"
            )


def test_compose_refuses_to_start_without_api_keys() -> None:
    """No example key to fall back on: `config` (as `up`) fails and says what to set."""
    result = compose_config()
    assert result.returncode != 0
    assert "TALKAVOCADO_API_KEYS" in result.stderr
    assert "avocado keys new" in result.stderr


def test_notify_may_finish_its_calls_and_refuses_private_destinations(
    compose: dict[str, Any],
) -> None:
    notify = services(compose)["notify"]
    env = environment(notify)
    assert seconds(notify["stop_grace_period"]) > float(env["SHUTDOWN_GRACE_SECONDS"])
    assert env["NOTIFY_ALLOW_PRIVATE_DESTINATIONS"] == "false"
    assert env["API_PUBLIC_URL"] == environment(services(compose)["api"])["API_PUBLIC_URL"]
