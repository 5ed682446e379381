"""The Kubeflow V2 build: the compiled spec, its run-time parameters, the image, scheduling."""

import importlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from signpipe.cli import main
from signpipe.components.evaluation import eval_config
from signpipe.components.gated_evaluator.executor import evaluator_properties
from signpipe.components.parameterized_trainer.executor import trainer_properties
from signpipe.errors import ConfigError, OrchestratorError
from signpipe.pipeline import kubeflow_schedule, run_parameters
from signpipe.pipeline.configs import known_variants, load_config
from signpipe.pipeline.kubeflow_v2_runner import CONTAINER_COMMAND, compile_pipeline
from signpipe.pipeline.pipeline import ClusterBuild, create_pipeline

REPO = Path(__file__).resolve().parents[2]
IMAGE = "europe-docker.pkg.dev/project/repo/signpipe:1.0"
ROOT = "gs://bucket/signpipe"
DATA = "gs://bucket/lse/span-{SPAN}"


@pytest.fixture(scope="module")
def config():
    return load_config(
        None,
        **{
            "data.data_root": DATA,
            "training.head_epochs": 3,
            "evaluation.accuracy_floor": 0.8,
            "tflite.variants": ["float32", "int8"],
        },
    )


def _compile(config, folder: Path, target: str) -> dict:
    return json.loads(
        Path(compile_pipeline(config, IMAGE, ROOT, str(folder / "p.json"), target)).read_text()
    )


@pytest.fixture(scope="module")
def job(config, tmp_path_factory) -> dict:
    """Compiled for open-source KFP."""
    return _compile(config, tmp_path_factory.mktemp("kfp"), "kubeflow")


@pytest.fixture(scope="module")
def vertex_job(config, tmp_path_factory) -> dict:
    return _compile(config, tmp_path_factory.mktemp("vertex"), "vertex")


def _executors(job: dict) -> dict:
    return job["pipelineSpec"]["deploymentSpec"]["executors"]


def _task_parameter(job: dict, task: str, name: str) -> dict:
    return job["pipelineSpec"]["root"]["dag"]["tasks"][task]["inputs"]["parameters"][name]


def _tasks(job: dict) -> dict:
    return job["pipelineSpec"]["root"]["dag"]["tasks"]


def test_every_component_of_the_local_pipeline_is_a_task(config, job, vertex_job):
    local = {component.id for component in create_pipeline(config).components}
    # Span drift needs a custom resolver, which Kubeflow's compiler does not take.
    assert {"previous_span_statistics", "SpanDriftValidator"} <= local
    local -= {"previous_span_statistics", "SpanDriftValidator"}
    resolver = "latest_blessed_model_resolver"
    assert set(_tasks(vertex_job)) == (local - {resolver}) | {
        f"{resolver}-model-resolver",
        f"{resolver}-model-blessing-resolver",
    }
    # Open-source KFP rejects every executor but a container or an importer: a container
    # step finds the baseline instead of the resolver.
    assert set(_tasks(job)) == (local - {resolver}) | {"LatestBlessedModel"}
    assert all(set(executor) == {"container"} for executor in _executors(job).values())
    evaluator = _tasks(job)["Evaluator"]["inputs"]["artifacts"]["baseline_model"]
    assert evaluator["taskOutputArtifact"]["producerTask"] == "LatestBlessedModel"
    assert {"Trainer", "Evaluator", "TestEvaluator", "Pusher", "TFLiteExporter"} <= set(_tasks(job))


def test_ingestion_and_baseline_are_never_cached_where_no_driver_sees_changes(job, vertex_job):
    assert _tasks(job)["ImageFolderExampleGen"]["cachingOptions"] == {"enableCache": False}
    assert _tasks(job)["LatestBlessedModel"]["cachingOptions"] == {"enableCache": False}
    assert _tasks(job)["Trainer"]["cachingOptions"] == {"enableCache": True}
    assert _tasks(vertex_job)["ImageFolderExampleGen"]["cachingOptions"] == {"enableCache": True}


def test_a_span_no_driver_resolved_is_resolved_by_the_executor(tmp_path):
    from tfx.proto import example_gen_pb2

    from signpipe.components.image_folder_example_gen.driver import resolve_unresolved_span

    for span in (1, 2):
        (tmp_path / f"span-{span}" / "A").mkdir(parents=True)
        (tmp_path / f"span-{span}" / "A" / "x.png").write_bytes(b"x")
    config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="images", pattern="span-{SPAN}/*/*")]
    )
    assert resolve_unresolved_span(str(tmp_path), config, None) == ("span-2/*/*", 2, None)
    config.splits[0].pattern = "span-1/*/*"
    assert resolve_unresolved_span(str(tmp_path), config, None) is None


def test_every_step_runs_the_image_with_entry_points_it_has(vertex_job):
    containers = [e["container"] for e in _executors(vertex_job).values() if "container" in e]
    assert len(containers) == 12
    for container in containers:
        assert container["image"] == IMAGE
        assert container["command"] == CONTAINER_COMMAND
        module, _, name = container["args"][
            container["args"].index("--executor_class_path") + 1
        ].rpartition(".")
        assert hasattr(importlib.import_module(module), name), module
    importlib.import_module(CONTAINER_COMMAND[-1])
    driver = _executors(vertex_job)["ImageFolderExampleGen_executor"]["container"]["lifecycle"]
    importlib.import_module(driver["preCacheCheck"]["command"][-1])  # TFX's span/fingerprint driver


def test_custom_artifact_types_import_by_the_names_compiled_steps_use(job):
    from tfx.utils import import_utils

    schemas = {
        spec["artifactType"]["instanceSchema"]
        for component in job["pipelineSpec"]["components"].values()
        for side in ("inputDefinitions", "outputDefinitions")
        for spec in component.get(side, {}).get("artifacts", {}).values()
    }
    titles = {yaml.safe_load(schema)["title"] for schema in schemas}
    custom = {title for title in titles if not title.startswith("tfx.")}
    assert custom == {"signpipe.DataReport", "signpipe.TFLiteModels"}
    for title in custom:  # TFX's V2 entry point imports a custom type by its title
        assert title == import_utils.import_class_by_path(title).TYPE_NAME


def test_user_code_is_named_from_the_installed_package_not_a_local_file(job):
    text = json.dumps(job)
    assert str(REPO) not in text and ".venv" not in text and "module_file" not in text
    run_fn = _task_parameter(job, "Trainer", "run_fn")["runtimeValue"]["constant"]
    preprocessing = _task_parameter(job, "Transform", "preprocessing_fn")["runtimeValue"][
        "constant"
    ]
    for dotted in (run_fn, preprocessing):
        module, _, name = dotted.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


def test_run_time_parameters_default_to_the_configuration_and_reach_their_steps(job):
    parameters = job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == set(run_parameters.NAMES)
    defaults = {name: spec["defaultValue"] for name, spec in parameters.items()}
    assert defaults == {
        "data_root": "gs://bucket/lse",  # the folder above the {SPAN} folders
        "head_epochs": 3,
        "finetune_epochs": 5,
        "accuracy_floor": 0.8,
        "tflite_variants": "float32,int8",
    }
    assert job["runtimeConfig"]["parameterValues"] == defaults
    wiring = {
        ("ImageFolderExampleGen", "input_base"): "data_root",
        ("Trainer", "head_epochs"): "head_epochs",
        ("Trainer", "finetune_epochs"): "finetune_epochs",
        ("Evaluator", "accuracy_floor"): "accuracy_floor",
        ("TFLiteExporter", "variants"): "tflite_variants",
    }
    for (task, name), parameter in wiring.items():
        assert _task_parameter(job, task, name) == {"componentInputParameter": parameter}
    assert job["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    pusher_root = _task_parameter(job, "Pusher", "serving_root")["runtimeValue"]["constant"]
    assert pusher_root == f"{ROOT}/serving"


def test_the_yaml_spec_loads_in_the_kfp_sdk_with_its_defaults(config, tmp_path):
    from kfp import components

    path = compile_pipeline(config, IMAGE, ROOT, str(tmp_path / "pipeline.yaml"))
    pipeline = components.load_component_from_file(path)
    assert pipeline.name == "signpipe"
    assert pipeline.component_spec.inputs["head_epochs"].default == 3
    assert pipeline.component_spec.inputs["accuracy_floor"].default == 0.8


def test_the_local_build_keeps_its_metadata_store_and_fixed_values(config):
    local = create_pipeline(config)
    kubeflow = create_pipeline(config, cluster=ClusterBuild(ROOT))
    assert local.metadata_connection_config is not None
    assert (
        kubeflow.metadata_connection_config is None and kubeflow.pipeline_info.pipeline_root == ROOT
    )
    trainer = {c.id: c for c in local.components}["Trainer"]
    assert trainer.exec_properties["head_epochs"] is None
    assert json.loads(trainer.exec_properties["custom_config"])["head_epochs"] == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({}, "--data-root"), ({"data.data_root": DATA}, "--pipeline-root")],
)
def test_compiling_without_cluster_paths_says_which_is_missing(overrides, message, tmp_path):
    root = "" if overrides else ROOT
    with pytest.raises(ConfigError, match=message):
        compile_pipeline(load_config(None, **overrides), IMAGE, root, str(tmp_path / "p.json"))


def test_compile_command_writes_the_spec(tmp_path, capsys):
    out = tmp_path / "signpipe.yaml"
    argv = ["compile", "--image", IMAGE, "--pipeline-root", ROOT, "--data-root", "gs://b/lse"]
    assert main([*argv, "--output", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["deploymentSpec"]
    assert str(out) in capsys.readouterr().out


def test_run_time_epochs_override_the_configured_ones():
    properties = {"custom_config": json.dumps({"head_epochs": 5, "dropout": 0.2}), "head_epochs": 2}
    merged = trainer_properties({**properties, "finetune_epochs": 0})
    assert json.loads(merged["custom_config"]) == {
        "head_epochs": 2,
        "finetune_epochs": 0,
        "dropout": 0.2,
    }
    assert "head_epochs" not in merged and "finetune_epochs" not in merged
    unchanged = trainer_properties(
        {"custom_config": properties["custom_config"], "head_epochs": None}
    )
    assert unchanged == {"custom_config": properties["custom_config"]}
    with pytest.raises(ConfigError, match="head_epochs must be a whole number"):
        trainer_properties({**properties, "head_epochs": -1})


def test_a_run_time_floor_replaces_the_configured_one():
    from tfx.utils import proto_utils

    configured = load_config().evaluation
    properties = {
        "eval_config": proto_utils.proto_to_json(eval_config(configured)),
        "accuracy_floor": 0.9,
    }
    updated = evaluator_properties(properties)
    assert "accuracy_floor" not in updated
    floors = [
        threshold["threshold"]["value_threshold"]["lower_bound"]
        for spec in json.loads(updated["eval_config"])["metrics_specs"]
        for metric in spec["metrics"]
        for threshold in metric.get("per_slice_thresholds", [])
    ]
    assert floors == [pytest.approx(0.9)]
    with pytest.raises(ConfigError, match="accuracy_floor must be between 0 and 1"):
        evaluator_properties({**properties, "accuracy_floor": 1.5})


def test_run_time_tflite_variants_are_checked():
    assert known_variants(["float32", " int8", ""], "run") == ["float32", "int8"]
    assert known_variants([""], "run") == []
    with pytest.raises(ConfigError, match=r"run: TFLite variants \['int4'\] are unknown"):
        known_variants(["float32", "int4"], "run")


def test_the_dockerfile_installs_the_lock_the_tests_run_on():
    dockerfile = (REPO / "Dockerfile").read_text()
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert re.search(r"^FROM python:3\.10[-.]", dockerfile, re.M)
    assert "-r requirements/lock.txt" in dockerfile and "-r requirements/lock.txt" in bootstrap
    assert "TF_USE_LEGACY_KERAS=1" in dockerfile
    assert "cached_lite0_weights()" in dockerfile and "SIGNPIPE_CACHE_DIR=" in dockerfile
    setup = (REPO / "setup.py").read_text()
    folders = re.search(r"SUBPACKAGES = \(([^)]*)\)", setup)[1]
    for folder in [*re.findall(r'"(\w+)"', folders), "signpipe"]:
        assert f"COPY {folder} {folder}" in dockerfile
    # The compiled steps start with `python -m`: the image's python must be the one the lock
    # went into (installed with --system, no venv in the image).
    assert CONTAINER_COMMAND[0] == "python" and "--system" in dockerfile


def test_a_five_field_cron_gains_seconds_and_a_bad_one_is_named():
    assert kubeflow_schedule.kfp_cron("0 3 * * *") == "0 0 3 * * *"
    assert kubeflow_schedule.kfp_cron("30 0 3 * * 1") == "30 0 3 * * 1"
    with pytest.raises(ConfigError, match="'0 3 \\* \\*' must have 5 fields"):
        kubeflow_schedule.kfp_cron("0 3 * *")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_host_fails_naming_host_and_cause(job, tmp_path):
    host = f"http://127.0.0.1:{_closed_port()}"
    package = tmp_path / "p.json"
    package.write_text(json.dumps(job))
    with pytest.raises(OrchestratorError) as error:
        kubeflow_schedule.create_schedule(host, str(package), "0 3 * * *", "exp", "signpipe")
    assert f"Kubeflow Pipelines at {host} could not create the schedule" in str(error.value)
    assert "Connection refused" in str(error.value) and "<urllib3" not in str(error.value)
    assert main(["schedule", "list", "--host", host]) == 1


class _Refusing(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "RBAC: access denied"}')

    do_POST = do_DELETE = do_GET

    def log_message(self, *args):
        pass


def test_a_refusing_host_fails_naming_the_http_status():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(
            OrchestratorError, match=f"at {host} could not delete schedule 42: HTTP 403"
        ):
            kubeflow_schedule.delete_schedule(host, "42", namespace="team-a")
    finally:
        server.shutdown()


def test_a_pipeline_job_json_is_uploaded_as_its_pipeline_spec(job, tmp_path):
    package = tmp_path / "p.json"
    package.write_text(json.dumps(job))
    with kubeflow_schedule._pipeline_spec_file(str(package)) as spec:
        assert yaml.safe_load(Path(spec).read_text()) == job["pipelineSpec"]
    missing = kubeflow_schedule._pipeline_spec_file(str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="does not exist: write it with `signpipe compile"):
        missing.__enter__()


def test_fold_trainers_are_parallel_tasks_over_one_data_half(tmp_path):
    folds = load_config(
        None, **{"data.data_root": DATA, "data.group_regex": r"^(hand\d+)_", "data.folds": 3}
    )
    tasks = _tasks(_compile(folds, tmp_path, "kubeflow"))
    trainers = [f"Trainer_fold{i}" for i in (1, 2, 3)]
    assert set(tasks) >= {*trainers, "Evaluator_fold1", "Evaluator_fold2", "Evaluator_fold3"}
    assert not set(tasks) & {"Trainer", "Evaluator", "Pusher", "TFLiteExporter"}
    for trainer in trainers:
        upstream = set(tasks[trainer]["dependentTasks"])
        assert upstream == {"ImageFolderExampleGen", "SchemaGen", "Transform"}
    assert [task for task in tasks if task.startswith("Transform")] == ["Transform"]


def test_each_steps_pod_limits_come_from_the_configuration(job, tmp_path):
    resources = {
        name: executor["container"].get("resources") for name, executor in _executors(job).items()
    }
    defaults = load_config(None).kubeflow.resources
    for step, values in defaults.items():
        assert resources[f"{step}_executor"] == {
            "cpuLimit": values["cpu"],
            "memoryLimit": values["memory_gb"],
        }
    assert resources["StatisticsGen_executor"] is None  # not configured: the cluster's default
    gpu = {"Trainer": {"cpu": 4, "memory_gb": 30, "accelerator": "NVIDIA_TESLA_T4"}}
    config = load_config(None, **{"data.data_root": DATA, "kubeflow.resources": gpu})
    trainer = _executors(_compile(config, tmp_path, "vertex"))["Trainer_executor"]["container"]
    assert trainer["resources"] == {
        "cpuLimit": 4.0,
        "memoryLimit": 30.0,
        "accelerator": {"type": "NVIDIA_TESLA_T4", "count": "1"},
    }
    folds = load_config(
        None, **{"data.data_root": DATA, "data.folds": 2, "data.group_regex": "^(s[0-9])_"}
    )
    executors = _executors(_compile(folds, tmp_path, "kubeflow"))
    for fold in ("Trainer_fold1", "Trainer_fold2"):  # each fold's copy of a step
        limits = executors[f"{fold}_executor"]["container"]["resources"]
        assert limits["cpuLimit"] == defaults["Trainer"]["cpu"]


@pytest.mark.parametrize(
    "resources, message",
    [
        ({"Trainr": {"cpu": 4}}, r"names step 'Trainr', which no signpipe pipeline has"),
        ({"Trainer": {"gpus": 1}}, r"kubeflow\.resources\.Trainer: unknown key\(s\) \['gpus'\]"),
        ({"Trainer": {"cpu": -1}}, r"kubeflow\.resources\.Trainer\.cpu must be a number >= 0"),
    ],
)
def test_a_bad_resource_entry_is_named(resources, message, tmp_path):
    config = load_config(None, **{"data.data_root": DATA, "kubeflow.resources": resources})
    with pytest.raises(ConfigError, match=message):
        _compile(config, tmp_path, "kubeflow")
