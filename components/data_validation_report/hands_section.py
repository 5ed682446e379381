"""The report's Hands section: how often MediaPipe found a hand, per class and split."""

import base64
import dataclasses
import io
from collections.abc import Iterable, Mapping, Sequence

import jinja2
from PIL import Image, ImageDraw

from signpipe.components.data_validation_report.data_checks import checked_set
from signpipe.components.html_parts import THUMBNAIL_PX
from signpipe.models import features

# The features the section reads; hand_box is read whole (4 floats), the others' first value.
HAND_FEATURES = (
    features.LABEL_KEY,
    features.SOURCE_PATH_KEY,
    features.IMAGE_KEY,
    features.HAND_FOUND_KEY,
    features.HAND_BOX_KEY,
)
WHOLE_FEATURES = (features.HAND_BOX_KEY,)
SAMPLES_PER_SPLIT = 4
_BOX_COLOR = "#00e676"
_OUTSIDE = (190, 190, 190)  # where a crop box leaves the frame (the crop is black there)


@dataclasses.dataclass
class HandSample:
    """One image shown in the section: its file, its bytes, and its crop box if a hand was found."""

    path: str
    image: bytes
    box: tuple[float, ...] | None = None  # ymin, xmin, ymax, xmax, image-normalised


@dataclasses.dataclass
class Hands:
    """Per split (a fold's parts as the one fold) and class: images with a hand, all images."""

    analysed: bool  # False when the examples carry no hand features
    found: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    images: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    missed: dict[str, list[HandSample]] = dataclasses.field(default_factory=dict)  # no hand
    boxed: dict[str, list[HandSample]] = dataclasses.field(default_factory=dict)  # hand found

    def split_rates(self) -> dict[str, tuple[int, int]]:
        """Split -> (images with a hand found, images)."""
        return {
            name: (sum(self.found[name].values()), sum(per_label.values()))
            for name, per_label in self.images.items()
        }


def collect_hands(
    rows_by_split: Mapping[str, Iterable[dict]], samples: int = SAMPLES_PER_SPLIT
) -> Hands:
    """Count hands found in rows of HAND_FEATURES and keep the first few samples of each kind."""
    hands = Hands(analysed=False)
    for split, rows in rows_by_split.items():
        name = checked_set(split)
        for row in rows:
            if row[features.HAND_FOUND_KEY] is None:
                break  # ExampleGen writes the hand features on every example or on none
            hands.analysed = True
            label = row[features.LABEL_KEY].decode()
            found = bool(row[features.HAND_FOUND_KEY])
            images = hands.images.setdefault(name, {})
            images[label] = images.get(label, 0) + 1
            with_hand = hands.found.setdefault(name, {})
            with_hand[label] = with_hand.get(label, 0) + int(found)
            shown = (hands.boxed if found else hands.missed).setdefault(name, [])
            if len(shown) < samples:
                box = tuple(row[features.HAND_BOX_KEY]) if found else None
                path = row[features.SOURCE_PATH_KEY].decode()
                shown.append(HandSample(path, row[features.IMAGE_KEY], box))
    return hands


def summary(hands: Hands) -> str:
    """The found rate overall and per split, e.g. `83% (train 85%, eval 80%)`."""
    if not hands.analysed:
        return "not analysed (data.hand_analysis is false)"
    rates = hands.split_rates()
    found = sum(hits for hits, _ in rates.values())
    images = sum(total for _, total in rates.values())
    per_split = ", ".join(f"{name} {hits / total:.0%}" for name, (hits, total) in rates.items())
    return f"{found / images:.0%} ({per_split})"


def hand_thumbnail(
    data: bytes, box: Sequence[float] | None = None, size: int = THUMBNAIL_PX
) -> str:
    """A JPEG data URI of an image as MediaPipe saw it (no EXIF rotation), with its crop box.

    The canvas grows to hold a box that leaves the frame, grey outside the image.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (size * 2, size * 2))
        image = image.convert("RGB")
    top, left, bottom, right = (0.0, 0.0, 1.0, 1.0)
    if box is not None:
        top, left = min(top, box[0]), min(left, box[1])
        bottom, right = max(bottom, box[2]), max(right, box[3])
    width, height = image.size
    scale = size / max((right - left) * width, (bottom - top) * height)
    canvas = Image.new(
        "RGB",
        (
            max(1, round((right - left) * width * scale)),
            max(1, round((bottom - top) * height * scale)),
        ),
        _OUTSIDE,
    )
    shown = image.resize((max(1, round(width * scale)), max(1, round(height * scale))))
    canvas.paste(shown, (round(-left * width * scale), round(-top * height * scale)))
    if box is not None:
        x0, x1 = ((x - left) * width * scale for x in (box[1], box[3]))
        y0, y1 = ((y - top) * height * scale for y in (box[0], box[2]))
        ImageDraw.Draw(canvas).rectangle((x0, y0, x1 - 1, y1 - 1), outline=_BOX_COLOR, width=2)
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _cell(hits: int, total: int, floor: float) -> dict:
    """A table cell: the found rate with its counts, marked when under the floor."""
    if not total:
        return {"text": "–", "low": False}
    return {"text": f"{hits / total:.0%} ({hits}/{total})", "low": hits / total < floor}


def _table(hands: Hands, floor: float) -> dict:
    """Rows of found rates per class and split, a total column and the split totals."""
    splits = list(hands.images)
    labels = sorted({label for per_label in hands.images.values() for label in per_label})

    def count(table: dict, split: str, label: str) -> int:
        return table[split].get(label, 0)

    rows = [
        {
            "label": label,
            "cells": [
                _cell(count(hands.found, s, label), count(hands.images, s, label), floor)
                for s in splits
            ]
            + [
                _cell(
                    sum(count(hands.found, s, label) for s in splits),
                    sum(count(hands.images, s, label) for s in splits),
                    floor,
                )
            ],
        }
        for label in labels
    ]
    rates = hands.split_rates()
    totals = [_cell(*rates[s], floor) for s in splits]
    totals.append(
        _cell(sum(h for h, _ in rates.values()), sum(t for _, t in rates.values()), floor)
    )
    return {"splits": splits, "rows": rows, "totals": totals}


def _gallery(samples: dict[str, list[HandSample]]) -> list[dict]:
    """Per split, thumbnails (box drawn when known) with their paths, or decode errors."""
    rows = []
    for split, shown in samples.items():
        cells = []
        for sample in shown:
            try:
                cells.append({"path": sample.path, "uri": hand_thumbnail(sample.image, sample.box)})
            except Exception as error:  # any decoder failure becomes a placeholder
                cells.append({"path": sample.path, "uri": None, "error": type(error).__name__})
        rows.append({"split": split, "cells": cells})
    return rows


def render_hands(hands: Hands, floor: float) -> str:
    """The Hands section's HTML, for the report page."""
    if not hands.analysed:
        return _TEMPLATE.render(analysed=False)
    rates = hands.split_rates()
    return _TEMPLATE.render(
        analysed=True,
        summary=summary(hands),
        bad=floor > 0 and any(total and hits / total < floor for hits, total in rates.values()),
        floor=floor,
        table=_table(hands, floor),
        missed=_gallery(hands.missed),
        boxed=_gallery(hands.boxed),
    )


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<section id="hands"><h2>Hands</h2>
{% if not analysed %}<p class="muted">Hand analysis was off (data.hand_analysis is false): the
examples carry no hand features, so hands are neither counted nor checked.</p>
{% else %}<p class="verdict {{ 'bad' if bad else 'ok' }}">Hands found: {{ summary }}</p>
<p>The share of images in which MediaPipe found a hand, per class and split (a fold's train
and eval parts count as the one fold). {% if floor > 0 %}A split under {{ "%g"|format(100 *
 floor) }}% (validation.min_hand_detection_rate) is an anomaly; rates under it are in red.
{% else %}The floor check is off (validation.min_hand_detection_rate is 0).{% endif %}</p>
<table><tr><th>Label</th>{% for s in table.splits %}<th>{{ s }}</th>{% endfor %}
<th>Total</th></tr>{% for r in table.rows %}<tr><td>{{ r.label }}</td>{% for c in r.cells %}
<td class="n{{ ' low' if c.low }}">{{ c.text }}</td>{% endfor %}
</tr>{% endfor %}<tr class="total"><td>Total</td>{% for c in table.totals %}
<td class="n{{ ' low' if c.low }}">{{ c.text }}</td>{% endfor %}
</tr></table>
<p class="muted">Thumbnails show the images as analysed (without EXIF rotation). The green
square is the crop the model sees; grey is where it leaves the frame (black in the crop).</p>
{% for title, id, gallery in (("No hand found", "hands-missed", missed),
 ("Hand found, with its crop", "hands-found", boxed)) %}
<h3 id="{{ id }}">{{ title }}</h3>{% if gallery %}<table class="samples">{% for r in gallery %}
<tr><th>{{ r.split }}</th><td class="thumbs">{% for c in r.cells %}<span class="card">
{% if c.uri %}<img src="{{ c.uri }}" alt="{{ c.path }}">{% else %}
<span class="ph">could not decode<br>({{ c.error }})</span>{% endif %}<br>{{ c.path }}</span>
{% endfor %}</td></tr>{% endfor %}</table>{% else %}<p>None.</p>{% endif %}{% endfor %}
{% endif %}</section>
"""
)
