"""DataGate: the step that stops a run on data anomalies, after the report is published."""

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from signpipe.components.artifacts import DataReport
from signpipe.components.data_gate import executor


class DataGateSpec(ComponentSpec):
    """Takes the data report; one switch turns failures into warnings."""

    PARAMETERS = {executor.FAIL_ON_ANOMALIES_KEY: ExecutionParameter(type=int)}
    INPUTS = {"report": ChannelParameter(type=DataReport)}
    OUTPUTS = {}


class DataGate(base_component.BaseComponent):
    """Fails the run, naming every anomaly and the report path, unless anomalies are allowed.

    A separate step from the report because TFX deletes a failed execution's outputs:
    the report has to be published before anything fails.
    """

    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, report: Channel, fail_on_anomalies: bool = True):
        """Gate on the given data report."""
        super().__init__(spec=DataGateSpec(report=report, fail_on_anomalies=int(fail_on_anomalies)))
