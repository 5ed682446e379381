"""The statistics a new span's drift is measured against: those of the previous span."""

from tfx.dsl.components.common.resolver import Resolver, ResolverStrategy
from tfx.types import Channel, artifact_utils, standard_artifacts

CURRENT = "current"
STATISTICS = "statistics"


class PreviousSpanStatisticsStrategy(ResolverStrategy):
    """The newest statistics of the highest span below the current one.

    Statistics without the compared splits (or, comparing all, sharing no split name with
    the current ones) are skipped: the split mode changed, there is nothing to compare.
    """

    def __init__(self, splits: list[str] | None = None):
        self._splits = set(splits or [])

    def resolve_artifacts(self, store, input_dict):
        """Resolve `statistics` to at most one artifact; `current` is only read."""
        current = input_dict.get(CURRENT, [])
        if not current:
            return {STATISTICS: [], CURRENT: []}
        [this] = current
        splits = self._splits or set(artifact_utils.decode_split_names(this.split_names))

        def comparable(stats) -> bool:
            theirs = set(artifact_utils.decode_split_names(stats.split_names))
            return self._splits <= theirs if self._splits else bool(splits & theirs)

        earlier = [
            stats
            for stats in input_dict[STATISTICS]
            if stats.span < this.span and comparable(stats)
        ]
        previous = max(earlier, key=lambda stats: (stats.span, stats.id), default=None)
        return {STATISTICS: [previous] if previous else [], CURRENT: []}


def previous_span_statistics(current: Channel, splits: list[str] | None) -> Resolver:
    """A Resolver whose `statistics` output is the previous span's, or empty on the first.

    `splits`: the split names that will be compared (None: any the two spans share).
    """
    return Resolver(
        strategy_class=PreviousSpanStatisticsStrategy,
        config={"splits": splits},
        statistics=Channel(type=standard_artifacts.ExampleStatistics),
        current=current,
    ).with_id("previous_span_statistics")
