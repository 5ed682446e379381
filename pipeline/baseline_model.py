"""The baseline the Evaluator compares a candidate with: the latest blessed *other* model."""

from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.types import Channel, standard_artifacts

CANDIDATE = "candidate"
MODEL = "model"
BLESSING = "model_blessing"


class PreviousBlessedModelStrategy(LatestBlessedModelStrategy):
    """Latest blessed model that is not the candidate itself.

    TFX's strategy returns the candidate once it has been blessed, so a rerun with nothing
    changed compares the cached model with itself: the Evaluator re-runs and the Pusher
    pushes the same model again. Leaving the candidate out keeps such a rerun fully cached.
    """

    def resolve_artifacts(self, store, input_dict):
        """Resolve `model` and `model_blessing`, skipping the artifacts in `candidate`."""
        candidates = {artifact.id for artifact in input_dict.get(CANDIDATE, [])}
        others = {
            MODEL: [m for m in input_dict[MODEL] if m.id not in candidates],
            BLESSING: list(input_dict[BLESSING]),
        }
        resolved = super().resolve_artifacts(store, others)
        return {**resolved, CANDIDATE: []}


def baseline_resolver(candidate: Channel, exclude_candidate: bool = True) -> Resolver:
    """A Resolver node whose `model` output is the baseline for `candidate`.

    Without `exclude_candidate`, TFX's own LatestBlessedModelStrategy: the Kubeflow V2
    compiler accepts only that strategy, with exactly the model and blessing channels.
    """
    channels = {
        MODEL: Channel(type=standard_artifacts.Model),
        BLESSING: Channel(type=standard_artifacts.ModelBlessing),
    }
    if exclude_candidate:
        strategy, channels[CANDIDATE] = PreviousBlessedModelStrategy, candidate
    else:
        strategy = LatestBlessedModelStrategy
    return Resolver(strategy_class=strategy, **channels).with_id("latest_blessed_model_resolver")
