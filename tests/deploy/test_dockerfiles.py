"""The images' Dockerfiles (no Docker engine here): pinned bases, non-root, real entrypoints and extras."""

from __future__ import annotations

import argparse
import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from deploy.dockerfile import Dockerfile, copy_sources, parse
from deploy.manifests import REPO
from kaito.cli.main import build_parser
from kaito.reconcilers.settings import DEFAULT_INFERENCE_IMAGE, DEFAULT_TUNING_IMAGE

DOCKER = REPO / "docker"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Dockerfile -> (the `kaito` subcommand it runs, the extra it installs, the image name it is built as)
IMAGES = {
    "operator.Dockerfile": ("operator", None, "ghcr.io/kaito-py/kaito:0.1.0"),
    "serve.Dockerfile": ("serve", "serving", DEFAULT_INFERENCE_IMAGE),
    "tune.Dockerfile": ("tune", "tuning-gpu", DEFAULT_TUNING_IMAGE),
}


def _subcommands() -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(subparsers.choices)


def _dockerfile(name: str) -> Dockerfile:
    return parse(DOCKER / name)


def test_every_dockerfile_is_covered() -> None:
    assert sorted(p.name for p in DOCKER.glob("*Dockerfile")) == sorted(IMAGES)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_bases_are_pinned(name: str) -> None:
    for stage in _dockerfile(name).stages:
        reference = stage.base
        if any(reference == other.name for other in _dockerfile(name).stages):
            continue  # FROM an earlier stage
        last = reference.rsplit("/", 1)[-1]
        assert "@sha256:" in reference or ":" in last, f"{name}: {reference} has no tag"
        assert not last.endswith(":latest"), f"{name}: {reference} uses latest"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_final_stage_runs_as_non_root(name: str) -> None:
    user = _dockerfile(name).final.last("USER")
    assert user is not None, f"{name}: the final stage sets no USER"
    uid = user.value.split(":")[0]
    assert uid.isdigit(), f"{name}: USER {user.value} must be numeric for runAsNonRoot"
    assert int(uid) != 0


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_entrypoint_is_a_kaito_subcommand(name: str) -> None:
    command, _, _ = IMAGES[name]
    entrypoint = _dockerfile(name).final.last("ENTRYPOINT")
    assert entrypoint is not None
    argv = entrypoint.exec_form()
    assert argv is not None, f"{name}: ENTRYPOINT must be exec form"
    assert argv == ["kaito", command]
    assert command in _subcommands()


def _pip_install_targets(dockerfile: Dockerfile) -> list[str]:
    """The requirement words of every `pip install` in RUN (options and their values left out)."""
    targets: list[str] = []
    for stage in dockerfile.stages:
        for run in stage.all("RUN"):
            for command in re.split(r"&&|;|\|\|", run.value):
                words = shlex.split(command)
                is_pip = any(word.rsplit("/", 1)[-1] in ("pip", "pip3") for word in words)
                if not is_pip or "install" not in words:
                    continue
                rest = words[words.index("install") + 1 :]
                skip_next = False
                for word in rest:
                    if skip_next:
                        skip_next = False
                    elif word in ("--constraint", "-c", "--requirement", "-r", "--index-url"):
                        skip_next = True
                    elif not word.startswith("-"):
                        targets.append(word)
    return targets


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_pip_installs_the_package_with_existing_extras(name: str) -> None:
    _, extra, _ = IMAGES[name]
    local = [t for t in _pip_install_targets(_dockerfile(name)) if t == "." or t.startswith(".[")]
    assert len(local) == 1, f"{name}: expected one `pip install .[extras]`, found {local}"
    match = re.fullmatch(r"\.(?:\[([A-Za-z0-9_,-]+)\])?", local[0])
    assert match is not None
    extras = set(filter(None, (match.group(1) or "").split(",")))
    known = set(PYPROJECT["project"]["optional-dependencies"])
    assert extras <= known, f"{name}: unknown extras {extras - known}"
    assert extras == ({extra} if extra else set())


def test_operator_image_has_no_ml_dependencies() -> None:
    """`pip install .` alone: the core dependencies must not pull torch or vLLM in."""
    core = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    for heavy in ("torch", "vllm", "transformers", "peft"):
        assert heavy not in core


def test_serve_base_matches_the_pinned_vllm() -> None:
    pins = [d for d in PYPROJECT["project"]["optional-dependencies"]["serving"] if d.startswith("vllm==")]
    assert len(pins) == 1
    version = pins[0].removeprefix("vllm==")
    assert _dockerfile("serve.Dockerfile").final.base == f"vllm/vllm-openai:v{version}"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_documented_image_names_match_the_operator(name: str) -> None:
    """The `-t` each Dockerfile documents is what the operator (or deploy/) expects to run."""
    _, _, image = IMAGES[name]
    text = (DOCKER / name).read_text()
    assert f"-f docker/{name} -t {image} ." in text
    assert image.endswith(":" + PYPROJECT["project"]["version"])


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule, enough for these patterns: the last matching pattern wins."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatch(prefix, body) for prefix in prefixes) or (
            body.startswith("**/") and fnmatch.fnmatch(parts[-1], body.removeprefix("**/"))
        ):
            ignored = not negated
    return ignored


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_copy_sources_exist_and_reach_the_build_context(name: str) -> None:
    patterns = _dockerignore()
    sources = [
        source
        for stage in _dockerfile(name).stages
        for copy in stage.all("COPY") + stage.all("ADD")
        for source in copy_sources(copy)
    ]
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), f"{name}: COPY {source}: not in the repository"
        assert not _ignored(source.rstrip("/"), patterns), (
            f"{name}: COPY {source} is excluded by .dockerignore"
        )
    assert (REPO / "src" / "kaito" / "cli" / "main.py").exists()
    assert not _ignored("src/kaito/cli/main.py", patterns)


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = _dockerignore()
    for heavy in (".venv", ".git", "tests", "bench", ".mypy_cache", "src/kaito/__pycache__"):
        assert _ignored(heavy, patterns), heavy


def test_parser_rejects_what_docker_would(tmp_path: Path) -> None:
    """The reader is strict enough to catch the mistakes these tests are for."""
    path = tmp_path / "Dockerfile"
    for text, message in (
        ("RUNN echo\n", "unknown instruction"),
        ("COPY . /x\n", "only ARG may come before FROM"),
        ("FROM a:1 AS\n", "bad FROM"),
        ("FROM ${MISSING}\n", "has no default"),
        ("FROM a:1\nRUN x \\\n", "continuation at the end"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            parse(path)
    path.write_text(
        'ARG BASE=a:1\n# comment\nFROM ${BASE} AS b\nRUN one \\\n    two\nENTRYPOINT ["x", "y"]\n'
    )
    parsed = parse(path)
    assert parsed.final.base == "a:1"
    assert parsed.final.name == "b"
    assert [i.value for i in parsed.final.all("RUN")] == ["one two"]
    entrypoint = parsed.final.last("ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint.exec_form() == ["x", "y"]
