"""Generated images sorted by what MediaPipe finds in them, for the tests of hand-aware clients."""

from pathlib import Path

from signpipe.components.image_folder_example_gen.hand_analysis import HandAnalyzer, HandFacts
from signpipe.inference.serving_client import DEFAULT_HAND_MIN_CONFIDENCE, find_hand


def hand_images(root: Path, each: int) -> list[tuple[str, HandFacts]]:
    """`each` images under `root` with a hand found and `each` without, alternating."""
    analyzer = HandAnalyzer(DEFAULT_HAND_MIN_CONFIDENCE)
    chosen: dict[bool, list[tuple[str, HandFacts]]] = {True: [], False: []}
    try:
        for path in sorted(root.rglob("*")):
            if path.suffix in (".jpg", ".png") and min(map(len, chosen.values())) < each:
                hand = find_hand(analyzer, path.read_bytes())
                if len(chosen[hand.found]) < each:
                    chosen[hand.found].append((str(path), hand))
    finally:
        analyzer.close()
    if min(map(len, chosen.values())) < each:
        raise AssertionError(f"MediaPipe found hands in {len(chosen[True])} images of {root}")
    return [pair for both in zip(chosen[True], chosen[False], strict=True) for pair in both]
