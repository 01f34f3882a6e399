"""The ``lienthong`` command line, without starting anything."""

from __future__ import annotations

import hashlib
import re

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.registry import PROCESSES

COMMANDS = [[], ["infra"], ["infra", "up"], ["infra", "down"], ["infra", "status"], ["infra", "env"],
            ["run"], ["supervise"], ["up"], ["down"], ["status"], ["clients"], ["clients", "add"]]


@pytest.fixture
def empty_state(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LIENTHONG_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "lienthong")
def test_every_command_explains_itself_with_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_status_with_nothing_started_lists_every_part_as_stopped(empty_state) -> None:
    result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in result.output.splitlines() if line.count("│") >= 3}
    assert rows == dict.fromkeys(("kafka", "postgresql", "supervisor", *PROCESSES), "stopped")


def test_supervise_refuses_an_unknown_process_by_name(empty_state) -> None:
    result = CliRunner().invoke(app, ["supervise", "intake", "no-such-process", "--state-dir", str(empty_state)])

    assert result.exit_code != 0
    assert "no-such-process" in result.output
    assert not (empty_state / "supervisor.json").exists()


def test_run_refuses_an_unknown_process_by_name() -> None:
    result = CliRunner().invoke(app, ["run", "no-such-process"])

    assert result.exit_code != 0
    assert "no-such-process" in result.output


def test_adding_a_client_prints_its_secret_once_and_an_entry_with_only_its_hash() -> None:
    result = CliRunner().invoke(app, ["clients", "add", "desk-h41", "--party", "desk",
                                      "--role", "dossier:submit", "--role", "dossier:read",
                                      "--agency-id", "000.00.01.H41"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    secret = re.search(r"\(shown once, give it to the party\): (\S+)", result.output).group(1)
    assert result.output.count(secret) == 1
    assert f"secret_sha256: {hashlib.sha256(secret.encode()).hexdigest()}" in result.output
    assert "agency_id: 000.00.01.H41" in result.output
    assert "roles: [dossier:read, dossier:submit]" in result.output
