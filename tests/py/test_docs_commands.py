"""The README and docs/ name only commands, options, settings, units and metrics that exist:
every `flirt-admin …` they show is a command of the CLI with options it takes, every
`[section] key` a setting of config.toml's model, every systemd unit a file in deploy/,
and every metric a series the code exports. No database needed."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from cli.main import app
from pyworker.settings import ROOT, load_config

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STOP = {"#", "|", "&&", ";", "||", ">", "2>&1"}


def _code(text: str) -> list[str]:
    """Inline code spans (line breaks joined) and the lines of ```sh blocks."""
    blocks = re.findall(r"^```(?:sh|bash)\n(.*?)^```$", text, flags=re.M | re.S)
    rest = re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)
    spans = [s.replace("\n", " ") for s in re.findall(r"`([^`]+)`", rest)]
    return spans + [line for block in blocks for line in block.splitlines()]


def _invocations() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        for code in _code(doc.read_text()):
            for match in re.finditer(r"flirt-admin((?:[ \t]+\S+)*)", code):
                if match.end() < len(code) and code[match.end()] == ":":
                    continue
                tokens = []
                for token in match.group(1).split():
                    if token in STOP or token.startswith("#"):
                        break
                    tokens.append(token.strip("[]"))
                found.append((doc.name, tokens))
    return found


def _options(command: Any) -> set[str]:
    return {o for p in command.params for o in [*p.opts, *getattr(p, "secondary_opts", [])]}


INVOCATIONS = _invocations()


@pytest.mark.parametrize(("doc", "tokens"), INVOCATIONS, ids=[" ".join(t) for _, t in INVOCATIONS])
def test_every_flirt_admin_command_in_the_docs_exists_with_its_options(
    doc: str, tokens: list[str]
) -> None:
    # typer's own click: a group is a command with subcommands
    command: Any = typer.main.get_command(app)
    for token in tokens:
        if hasattr(command, "commands") and not token.startswith("-"):
            names = token.split("/")  # `dev up/down/reset/status`
            assert all(n in command.commands for n in names), f"{doc}: no command {token!r}"
            command = command.commands[names[0]]
        elif token.startswith("--"):
            option = token.split("=", 1)[0]
            assert option in _options(command) | {"--help"}, f"{doc}: {command.name} {option}"


def test_the_docs_show_commands_at_all() -> None:
    assert len(INVOCATIONS) > 40


def _setting_exists(section: str, key: str) -> bool:
    """Whether `[section] key` is a field of the settings model (`tiers.pro`: one tier)."""
    node: Any = load_config(ROOT / "config.toml")
    for part in section.split("."):
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
        if node is None:
            return False
    return key in type(node).model_fields


def test_every_config_key_the_docs_name_is_a_setting() -> None:
    named = set()
    for doc in DOCS:
        for code in _code(doc.read_text()):
            named |= {(doc.name, s, k) for s, k in re.findall(r"^\[([a-z_.]+)\]\s+([a-z_]+)", code)}
    assert len(named) > 20
    missing = [f"{doc}: [{s}] {k}" for doc, s, k in named if not _setting_exists(s, k)]
    assert not missing


def test_every_systemd_unit_the_docs_name_is_in_deploy() -> None:
    units = set()
    for doc in DOCS:
        units |= set(re.findall(r"\b(flirt-(?:api|worker)@|flirt\.target)", doc.read_text()))
    assert units == {"flirt-api@", "flirt-worker@", "flirt.target"}
    for name in units:
        file = name + ".service" if name.endswith("@") else name
        assert (ROOT / "deploy" / "systemd" / file).exists(), file


def test_every_metric_the_runbook_names_is_exported() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "pyworker").rglob("*.py"))
    exported = set(re.findall(r"\"(flirt_[a-z_]+)\",", code))
    cron_jobs = set(
        re.findall(r"'(flirt_[a-z_]+)'", (ROOT / "supabase/functions_sql/90_cron.sql").read_text())
    )
    named = set(re.findall(r"\b(flirt_[a-z_]+)", (ROOT / "docs" / "deploy.md").read_text()))
    for name in named - cron_jobs:
        series = re.sub(r"_(bucket|count|sum)$", "", name)
        assert series in exported, name
