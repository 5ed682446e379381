"""Recurring runs of the compiled pipeline on Kubeflow Pipelines, through the kfp SDK."""

import contextlib
import dataclasses
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import yaml

from signpipe.errors import ConfigError, OrchestratorError


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One recurring run as Kubeflow Pipelines lists it."""

    id: str
    name: str
    cron: str
    enabled: bool
    created: str

    def line(self) -> str:
        """One line for the terminal."""
        state = "enabled" if self.enabled else "disabled"
        return f"{self.id}  {self.name}  cron '{self.cron}'  {state}  created {self.created}"


def kfp_cron(expression: str) -> str:
    """A cron expression as KFP wants it: six fields, seconds first (a five-field one gets 0)."""
    fields = expression.split()
    if len(fields) == 5:
        return " ".join(["0", *fields])
    if len(fields) == 6:
        return " ".join(fields)
    raise ConfigError(
        f"--cron '{expression}' must have 5 fields (minute hour day month weekday), "
        "or 6 with seconds first; e.g. '0 3 * * *' runs daily at 03:00"
    )


@contextlib.contextmanager
def _talking_to(host: str, doing: str) -> Iterator[None]:
    """Turn the SDK's connection and API errors into one that names the host and cause."""
    # The SDK logs each failed attempt with a traceback; the error below says it once.
    logging.disable(logging.ERROR)
    try:
        yield
    except (ConfigError, OrchestratorError):
        raise
    except Exception as err:
        cause = str(getattr(err, "reason", None) or err).strip().splitlines()[0]
        cause = re.sub(r"^<[^>]*>: ", "", cause)  # urllib3 prefixes the connection's repr
        status = getattr(err, "status", None)
        raise OrchestratorError(
            f"Kubeflow Pipelines at {host} could not {doing}: "
            f"{f'HTTP {status} ' if status else ''}{cause}. Check the URL (the KFP API or UI "
            "endpoint, e.g. http://localhost:8080 after `kubectl port-forward`), that the "
            "cluster is up, and your credentials"
        ) from None
    finally:
        logging.disable(logging.NOTSET)


def _client(host: str, namespace: str | None):
    import kfp

    return kfp.Client(host=host, **({"namespace": namespace} if namespace else {}))


@contextlib.contextmanager
def _pipeline_spec_file(package: str) -> Iterator[str]:
    """The PipelineSpec YAML KFP uploads: the file itself, or a PipelineJob JSON's spec."""
    if not os.path.isfile(package):
        raise ConfigError(
            f"compiled pipeline '{package}' does not exist: write it with "
            "`signpipe compile --target kubeflow`"
        )
    if package.endswith((".yaml", ".yml")):
        yield package
        return
    try:
        with open(package, encoding="utf-8") as source:
            spec = json.load(source)["pipelineSpec"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(
            f"'{package}' is neither a PipelineSpec YAML nor a PipelineJob JSON from "
            "`signpipe compile --target kubeflow`"
        ) from None
    with tempfile.TemporaryDirectory(prefix="signpipe-kfp-") as folder:
        path = os.path.join(folder, "pipeline.yaml")
        with open(path, "w", encoding="utf-8") as out:
            yaml.safe_dump(spec, out, sort_keys=True)
        yield path


def create_schedule(
    host: str,
    package: str,
    cron: str,
    experiment: str,
    name: str,
    parameters: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> Schedule:
    """Upload the compiled pipeline (a new version if it exists) and schedule it."""
    cron = kfp_cron(cron)
    with _pipeline_spec_file(package) as spec, _talking_to(host, "create the schedule"):
        client = _client(host, namespace)
        experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
        pipeline_id = client.get_pipeline_id(name)
        if pipeline_id is None:
            pipeline_id = client.upload_pipeline(spec, pipeline_name=name).pipeline_id
            version = client.list_pipeline_versions(pipeline_id).pipeline_versions[0]
        else:
            version_name = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
            version = client.upload_pipeline_version(spec, version_name, pipeline_id=pipeline_id)
        run = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            cron_expression=cron,
            params={key: _typed(value) for key, value in (parameters or {}).items()},
            pipeline_id=pipeline_id,
            version_id=version.pipeline_version_id,
        )
        return _schedule(run)


def list_schedules(
    host: str, experiment: str | None = None, namespace: str | None = None
) -> list[Schedule]:
    """The recurring runs (of one experiment, if named), newest first."""
    with _talking_to(host, "list the schedules"):
        client = _client(host, namespace)
        experiment_id = None
        if experiment:
            experiment_id = client.get_experiment(
                experiment_name=experiment, namespace=namespace
            ).experiment_id
        schedules, token = [], ""
        while True:
            page = client.list_recurring_runs(
                page_token=token,
                page_size=100,
                sort_by="created_at desc",
                experiment_id=experiment_id,
                namespace=namespace,
            )
            schedules += [_schedule(run) for run in page.recurring_runs or []]
            token = page.next_page_token
            if not token:
                return schedules


def delete_schedule(host: str, schedule_id: str, namespace: str | None = None) -> None:
    """Delete one recurring run; its past runs stay."""
    with _talking_to(host, f"delete schedule {schedule_id}"):
        _client(host, namespace).delete_recurring_run(schedule_id)


def _typed(value: Any) -> Any:
    """A parameter given as text, as the number it spells if it is one (KFP checks types)."""
    if not isinstance(value, str):
        return value
    try:
        number = json.loads(value)
    except json.JSONDecodeError:
        return value
    return number if isinstance(number, int | float) and not isinstance(number, bool) else value


def _schedule(run) -> Schedule:
    cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else ""
    return Schedule(
        id=run.recurring_run_id,
        name=run.display_name,
        cron=cron,
        enabled=str(run.status).upper() == "ENABLED",
        created=str(run.created_at),
    )
