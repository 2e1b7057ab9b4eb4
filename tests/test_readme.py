"""The README stays true: a two-line Quickstart, only `tanhui` commands, options and settings that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tanhui import demo
from tanhui.cli.main import app
from tanhui.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ROOT = typer.main.get_command(app)
# `tanhui` as a command word (also `.venv/bin/tanhui`, `python -m tanhui`), not `tanhui.db` or `src/tanhui/`.
MENTION = re.compile(r"(?<![\w.-])tanhui(?=\s|$)(?P<rest>[^\n]*)")


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def code_pieces() -> list[str]:
    """Every fenced code line and inline code span of the README."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", README, re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", README, flags=re.S | re.M)
    return [line for block in fenced for line in block.splitlines()] + re.findall(r"`([^`\n]+)`", prose)


def mentions() -> list[str]:
    """The words after each `tanhui` in the README's code, up to the end of that shell command."""
    found = []
    for piece in code_pieces():
        for match in MENTION.finditer(piece.replace("\\|", "|")):
            found.append(re.split(r"&&|;|\s#", match.group("rest"))[0].strip())
    return found


def options_of(command: Any) -> dict[str, bool]:
    """A command's option names, each with whether it is a flag (takes no value)."""
    return {name: bool(getattr(param, "is_flag", False))
            for param in command.params for name in (*param.opts, *param.secondary_opts)
            if name.startswith("-")}


def resolve(words: list[str]) -> tuple[list[str], Any, list[str]]:
    """The command path the words name, the command itself, and the options used with it."""
    command: Any = ROOT
    path: list[str] = []
    used: list[str] = []
    tokens = iter(words)
    for raw in tokens:
        token = raw.strip("()[]`,")
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            used.append(name)
            flags = {**options_of(ROOT), **options_of(command)}
            takes_value = name in flags and not flags[name] and "=" not in token
            if takes_value and isinstance(command, typer.core.TyperGroup):
                next(tokens, None)  # a group-level option's value, not a command word
        elif isinstance(command, typer.core.TyperGroup) and token:
            # Through Click's lookup, not the group's dict: the root loads its commands when they are asked for.
            found = command.get_command(typer.Context(command), token)
            assert found is not None, f"`tanhui {' '.join(words)}`: no command {token!r} after {path}"
            command = found
            path.append(token)
    return path, command, used


def test_quickstart_is_two_command_lines_in_one_block() -> None:
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", section("Quickstart"), re.S | re.M)
    assert len(blocks) == 1, "the Quickstart holds exactly one code block"
    lines = [line for line in blocks[0].splitlines() if line.strip()]
    assert lines == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/tanhui serve --demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest -n 2",
    ]


def test_the_readme_mentions_many_commands() -> None:
    # Guards the parser below: if it found nothing, the next test would pass vacuously.
    paths = {" ".join(resolve(words.split())[0]) for words in mentions()}
    assert {"serve", "db upgrade", "bootstrap", "demo", "serial parse", "audit verify", "issue"} <= paths


@pytest.mark.parametrize("words", sorted(set(mentions())))
def test_every_tanhui_command_and_option_in_the_readme_exists(words: str) -> None:
    path, command, used = resolve(words.split())
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    known = {"--help", *options_of(ROOT), *options_of(command)}
    unknown = [name for name in used if name not in known]
    assert not unknown, f"`tanhui {words}`: `tanhui {' '.join(path)}` has no options {unknown}"


def test_every_setting_is_in_the_configuration_table() -> None:
    table = section("Configuration")
    for name in Settings.model_fields:
        assert f"`TANHUI_{name.upper()}`" in table, f"TANHUI_{name.upper()} is not documented"


def test_the_demo_logins_are_documented() -> None:
    what_you_see = section("What you see")
    assert demo.DEMO_PASSWORD in what_you_see
    for login in demo.DEMO_LOGINS:
        assert f"`{login.username}`" in what_you_see and login.organization in what_you_see
