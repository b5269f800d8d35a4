"""`kaito weights fetch` as an init container runs it: exit codes, stdout and the termination message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kaito.cli import weights as weights_cli
from kaito.cli.main import main
from kaito.presets import get_preset

from .conftest import GATED_REPO
from .hub_emulator import HubEmulator, HubRepo, tiny_model_files


@pytest.fixture(autouse=True)
def quiet_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI configures process-wide logging; tests share the process, so leave it as pytest set it.
    monkeypatch.setattr(weights_cli, "configure_logging", lambda *_args, **_kwargs: None)
    monkeypatch.delenv("HF_TOKEN", raising=False)


async def run_cli(*args: str) -> int:
    """Run the command in a thread (it owns an event loop) while the emulator serves on this one."""
    return await asyncio.to_thread(main, ["weights", "fetch", *args])


async def test_preset_fetch_prints_the_model_dir(
    hub: HubEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preset = get_preset("phi-3-mini-4k-instruct")
    hub.repos[preset.hf_repo] = HubRepo(tiny_model_files(seed=5))
    cache, log = tmp_path / "cache", tmp_path / "termination-log"
    args = ["--preset", preset.name, "--cache", str(cache), "--hub-endpoint", hub.url]
    assert await run_cli(*args, "--termination-log", str(log)) == 0
    # The real CLI logs to stderr; unconfigured structlog prints to stdout, so the path is the last line.
    model_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert model_dir.is_relative_to(cache)
    assert (model_dir / "config.json").read_bytes() == hub.repos[preset.hf_repo].files["config.json"]
    assert not log.exists()


async def test_denied_token_exits_with_its_reason(hub: HubEmulator, tmp_path: Path) -> None:
    token_file, log = tmp_path / "HF_TOKEN", tmp_path / "termination-log"
    token_file.write_text("hf_wrong\n")
    code = await run_cli(
        "--repo",
        GATED_REPO,
        "--cache",
        str(tmp_path / "cache"),
        "--hub-endpoint",
        hub.url,
        "--token-file",
        str(token_file),
        "--token-secret",
        "my-hf-secret",
        "--termination-log",
        str(log),
    )
    assert code == 21
    message = log.read_text()
    assert message.startswith("ModelAccessDenied: ")
    assert "'my-hf-secret'" in message


async def test_unknown_preset_is_a_usage_error(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    code = await run_cli("--preset", "phi-9", "--cache", str(tmp_path), "--termination-log", str(log))
    assert code == 2
    assert log.read_text().startswith("InvalidArguments: unknown preset 'phi-9'")


async def test_local_weights_need_no_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = tmp_path / "tiny"
    local.mkdir()
    (local / "config.json").write_text("{}")
    assert await run_cli("--local", str(local), "--termination-log", str(tmp_path / "log")) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(local)
    assert await run_cli("--cache", str(tmp_path), "--termination-log", str(tmp_path / "log")) == 2
