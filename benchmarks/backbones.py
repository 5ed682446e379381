"""Compare backbones and weight sources on one split: accuracy, training time; conversion time.

Runs the whole pipeline once per variant in one home, so the data half runs once and is
reused; each variant trains and evaluates its own model with the same epochs.

    python benchmarks/backbones.py [--variant 'efficientnet_b0 random' ...] \
        --out benchmarks/results/backbones_by_signer.json
"""

import argparse
import os
import tempfile
import time

from benchmark_setup import DEFAULT_DATA, benchmark_config, write_result

import signpipe  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

VARIANTS = {
    "efficientnet_lite0 pretrained": ("efficientnet_lite0", "lite0-pretrained"),
    "efficientnet_lite0 random": ("efficientnet_lite0", "none"),
    "efficientnet_b0 random": ("efficientnet_b0", "none"),
}


def conversion_seconds() -> dict[str, float]:
    """Time converting the Lite0 checkpoint into an empty cache, then reading the cache."""
    from signpipe.models import lite0_weights

    with tempfile.TemporaryDirectory(prefix="signpipe-weights-") as cache:
        os.environ[lite0_weights.CACHE_ENV] = cache
        try:
            started = time.perf_counter()
            lite0_weights.cached_lite0_weights()
            converted = time.perf_counter() - started
            started = time.perf_counter()
            lite0_weights.cached_lite0_weights()
            cached = time.perf_counter() - started
        finally:
            del os.environ[lite0_weights.CACHE_ENV]
    return {"first_conversion_s": round(converted, 2), "cached_load_s": round(cached, 2)}


def main() -> None:
    """Run every variant and write their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(DEFAULT_DATA))
    parser.add_argument("--group-regex", default=r"^(hand\d+)_", help="'' for a random split")
    parser.add_argument(
        "--variant", action="append", choices=list(VARIANTS), help="default: all (repeatable)"
    )
    parser.add_argument("--out", required=True, help="JSON path under benchmarks/results/")
    args = parser.parse_args()
    chosen = args.variant or list(VARIANTS)

    from signpipe.pipeline import local_runner
    from signpipe.runs.store import steps_after
    from signpipe.runs.summaries import model_summary

    result = {"data_root": args.data_root, "group_regex": args.group_regex, "variants": {}}
    result["lite0_weights"] = conversion_seconds()
    with tempfile.TemporaryDirectory(prefix="signpipe-backbones-") as home:
        for name in chosen:
            backbone, weights = VARIANTS[name]
            config = benchmark_config(
                home,
                args.data_root,
                args.group_regex,
                **{
                    "training.backbone": backbone,
                    "training.backbone_weights": weights,
                    "tflite.variants": [],  # measured by run_pipeline.py, not needed here
                },
            )
            before = max((e.execution_id for e in steps_after(config)), default=0)
            local_runner.run(config)
            seconds = {e.component: e.seconds for e in steps_after(config, before)}
            summary = model_summary(config)
            result["variants"][name] = {
                "eval_accuracy": summary.eval_accuracy,
                "test_accuracy": summary.test_accuracy,
                "trainer_s": round(seconds["Trainer"], 1),
                "weakest_eval_classes": dict(
                    sorted(summary.per_class["eval"].items(), key=lambda item: min(item[1]))[:5]
                ),
            }
            result["training"] = {
                key: getattr(config.training, key)
                for key in ("image_size", "batch_size", "head_epochs", "finetune_epochs", "seed")
            }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
