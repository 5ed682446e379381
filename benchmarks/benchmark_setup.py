"""What every benchmark shares: the data set, the run configuration, where figures go."""

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "asl_massey"


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--data-root, --group-regex, --set KEY=VALUE and --out, as training benchmarks take them."""
    parser.add_argument("--data-root", default=str(DEFAULT_DATA))
    parser.add_argument("--group-regex", default=r"^(hand\d+)_", help="'' for a random split")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. training.head_epochs=3 (JSON values)",
    )
    parser.add_argument("--out", required=True, help="JSON path under benchmarks/results/")


def config_overrides(settings: list[str]) -> dict[str, Any]:
    """The --set KEY=VALUE settings as config overrides (values are JSON)."""
    return {key: json.loads(value) for key, value in (s.split("=", 1) for s in settings)}


def benchmark_config(home: str, data_root: str, group_regex: str, **overrides: Any):
    """A run configuration for a benchmark: anomalies are reported, never fatal."""
    from signpipe.pipeline.configs import load_config

    return load_config(
        None,
        **{
            "home": home,
            "data.data_root": data_root,
            "data.group_regex": group_regex or None,
            "validation.fail_on_anomalies": False,
            **overrides,
        },
    )


def run_through_transform(config, materialize: bool = False) -> float:
    """Run the data half and Transform locally; the wall time in seconds."""
    import time

    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from signpipe.pipeline.pipeline import data_components, transform_component

    data = data_components(config)
    transform = transform_component(
        config, data.example_gen, data.schema_gen, materialize=materialize
    )
    started = time.perf_counter()
    LocalDagRunner().run(
        pipeline.Pipeline(
            pipeline_name=config.pipeline_name,
            pipeline_root=config.pipeline_root,
            components=[*data.components, transform],
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                config.metadata_path
            ),
            beam_pipeline_args=list(config.beam_args),
        )
    )
    return time.perf_counter() - started


def machine() -> dict[str, Any]:
    """The processor, core count and Python the figures were taken on: times from different
    machines differ."""
    facts: dict[str, Any] = {}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu MHz", "bogomips") and key not in facts:
                facts[key] = value.strip()
    facts["cores"] = os.cpu_count()
    facts["python"] = platform.python_version()
    return facts


def write_result(path: str, result: dict[str, Any]) -> None:
    """Write the figures, with the machine they were taken on, as JSON (creating the folder)
    and print them."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**result, "machine": machine()}, indent=2)
    out.write_text(text + "\n")
    print(text)


@contextlib.contextmanager
def stand_in_server(model_folder: str, model_name: str = "signpipe") -> Iterator[Any]:
    """The tests' in-process TF Serving stand-in (gRPC and REST), serving a copy of one
    pushed SavedModel version as version 1 of `model_name`."""
    sys.path.insert(0, str(REPO))  # tests.fake_tf_serving
    from signpipe.components import model_directory
    from tests.fake_tf_serving import FakeTFServing

    with tempfile.TemporaryDirectory(prefix="signpipe-serving-") as serving_root:
        model_directory.publish(
            os.path.join(serving_root, model_name, "1"),
            lambda staging: model_directory.copy_tree(model_folder, staging),
        )
        model_directory.write_models_config(serving_root, "/models", 1)
        with FakeTFServing(serving_root) as server:
            yield server
