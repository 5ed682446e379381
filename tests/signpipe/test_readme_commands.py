"""Every `signpipe` command the README shows exists, with every option it uses."""

import argparse
import re
from pathlib import Path

from signpipe.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^ *```[^\n]*\n(.*?)^ *```", re.M | re.S)
INLINE = re.compile(r"`((?:[\w./-]*/)?signpipe [^`]+)`")
# `signpipe` (or `.venv/bin/signpipe`) followed by a space, at a line start or after `&&`.
INVOCATION = re.compile(r"(?:^|&&|\s)(?:[\w./-]*/)?signpipe\s+([a-z][\w-]*)(.*?)(?:>>|$|\s#)", re.M)


def _shown_commands() -> list[tuple[str, str, list[str]]]:
    """(file, command, argument tokens) of each invocation in the docs' code."""
    shown = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for block in [*FENCE.findall(text), *INLINE.findall(text)]:
            joined = block.replace("\\\n", " ")
            for command, rest in INVOCATION.findall(joined):
                shown.append((page.name, command, rest.split()))
    return shown


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_shown_in_the_docs_exists_with_its_options():
    shown = _shown_commands()
    assert {command for _, command, _ in shown} >= {"run", "validate", "predict", "compile"}
    top = _subcommands(build_parser())
    for page, command, tokens in shown:
        assert command in top, f"{page}: `signpipe {command}` is not a command"
        parser = top[command]
        nested = _subcommands(parser)
        if nested and tokens and tokens[0] in nested:
            parser = nested[tokens[0]]
        known = set(parser._option_string_actions)
        for token in tokens:
            option = token.strip("[]").split("=", 1)[0]
            if option.startswith("--"):
                assert option in known, f"{page}: `signpipe {command}` has no {option}"
