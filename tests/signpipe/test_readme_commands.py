"""What the README and docs name exists in the code: every `signpipe` command with every
option it uses, every benchmark command with its options, every config key, and the
configuration page's example with every option of PipelineConfig."""

import argparse
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import yaml

from signpipe.cli import build_parser
from signpipe.pipeline.configs import PipelineConfig, load_config

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^ *```[^\n]*\n(.*?)^ *```", re.M | re.S)
INLINE = re.compile(r"`((?:[\w./-]*/)?signpipe [^`]+)`")
# `signpipe` (or `.venv/bin/signpipe`) followed by a space, at a line start or after `&&`.
INVOCATION = re.compile(r"(?:^|&&|\s)(?:[\w./-]*/)?signpipe\s+([a-z][\w-]*)(.*?)(?:>>|$|\s#)", re.M)
BENCHMARK = re.compile(r"python benchmarks/(\w+)\.py([^`\n]*)")
SECTIONS = "data|demo|validation|training|evaluation|tflite|serving|kubeflow"
CONFIG_KEY = re.compile(rf"(?<![\w./-])((?:{SECTIONS})\.[a-z_]+)")
FILE_SUFFIXES = {"json", "md", "py", "yaml"}  # `serving.json` is a results file, not a key
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _shown_commands() -> list[tuple[str, str, list[str]]]:
    """(file, command, argument tokens) of each invocation in the docs' code."""
    shown = []
    for page in _pages():
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


def _config_keys(cls: type = PipelineConfig, prefix: str = "") -> set[str]:
    """Every option of the config as a dotted key (data.folds, home, ...)."""
    keys = set()
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(field.type):
            keys |= _config_keys(field.type, f"{prefix}{field.name}.")
        else:
            keys.add(prefix + field.name)
    return keys


def _dotted(values: dict, prefix: str = "") -> set[str]:
    """The dotted keys of a nested config dict, values that are mappings (split_ratios) kept."""
    keys = set()
    for key, value in values.items():
        if isinstance(value, dict) and not prefix:
            keys |= _dotted(value, f"{key}.")
        else:
            keys.add(prefix + key)
    return keys


def test_every_config_key_the_docs_name_is_an_option():
    options = _config_keys()
    named = {
        (page.name, key)
        for page in _pages()
        for code in re.findall(r"`([^`\n]+)`", page.read_text(encoding="utf-8"))
        for key in CONFIG_KEY.findall(code)
        if key.rsplit(".", 1)[1] not in FILE_SUFFIXES
    }
    assert len(named) > 20
    unknown = sorted((page, key) for page, key in named if key not in options)
    assert unknown == [], f"config keys the docs name that PipelineConfig lacks: {unknown}"


def test_the_configuration_page_example_loads_and_names_every_option(tmp_path):
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    assert _dotted(yaml.safe_load(example)) == _config_keys()
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    assert load_config(str(path)).serving.model_name == "lse"


def _benchmark_options(script: str) -> set[str]:
    """The options a benchmark script's --help lists."""
    path = REPO / "benchmarks" / f"{script}.py"
    assert path.exists(), f"benchmarks/{script}.py does not exist"
    shown = subprocess.run(
        [sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    return set(OPTION.findall(shown.stdout))


def test_every_benchmark_command_shown_exists_with_its_options():
    shown = [
        (page.name, script, set(OPTION.findall(rest)))
        for page in [*_pages(), REPO / "Makefile"]
        for script, rest in BENCHMARK.findall(page.read_text(encoding="utf-8"))
    ]
    assert {script for _, script, _ in shown} >= {"input_modes", "run_pipeline", "demo_run"}
    options = {script: _benchmark_options(script) for script in {s for _, s, _ in shown}}
    for page, script, used in shown:
        assert used <= options[script], f"{page}: {script}.py has no {used - options[script]}"


def test_every_signpipe_option_the_docs_name_exists():
    every = {
        option
        for parser in [*_subcommands(build_parser()).values()]
        for nested in [parser, *_subcommands(parser).values()]
        for option in nested._option_string_actions
    }
    named = {
        (page.name, code.split()[0].split("=")[0])
        for page in _pages()
        if page.name != "benchmarks.md"  # its options are the benchmark scripts'
        for code in re.findall(r"`(--[^`\n]+)`", page.read_text(encoding="utf-8"))
        if "_" not in code  # Beam's, TF Serving's and the Dataflow options' spelling
    }
    assert len(named) > 15
    unknown = sorted((page, option) for page, option in named if option not in every)
    assert unknown == [], f"options the docs name that no signpipe command has: {unknown}"
