"""Render a run report and write it where `signpipe runs show` finds it."""

import json
import os

import jinja2

from signpipe.components.html_parts import STYLE
from signpipe.pipeline.configs import PipelineConfig
from signpipe.runs import fold_results
from signpipe.runs.history import RunRecord, find_run, list_runs, report_path
from signpipe.runs.report.contents import ReportContents, gather
from signpipe.runs.report.explanations import LABEL_ERROR_CONFIDENCE

SECTIONS = {
    "outcome": "Outcome",
    "cross_validation": "Cross-validation",
    "training": "Training",
    "evaluation": "Evaluation",
    "tflite": "TFLite",
    "data": "Data",
    "steps": "Steps",
}


ERROR_GROUPS = {
    "label_errors": "Label-error candidates: confidently wrong, check these labels first",
    "misclassified": "Other misclassified images",
    "least_confident": "Correct, but least confident",
}


def previous_blessed(runs: list[RunRecord], run: RunRecord) -> RunRecord | None:
    """The newest earlier run in `runs` that blessed a different model than this run's."""
    for other in runs:
        if other.started < run.started and other.blessed and other.model_id != run.model_id:
            return other
    return None


def write_report(
    config: PipelineConfig, run_id: str | None = None, runs: list[RunRecord] | None = None
) -> str:
    """Write the report of a run (the newest by default); return its path.

    A cross-validation run also gets its results as JSON beside the page. `runs`: the
    history when the caller has already read it.
    """
    runs = list_runs(config) if runs is None else runs
    run = find_run(config, run_id, runs)
    contents = gather(run, previous_blessed(runs, run))
    html = render(contents, config)
    path = report_path(config, run.run_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if contents.cross_validation:
        with open(fold_results.json_path(config, run.run_id), "w", encoding="utf-8") as out:
            json.dump(contents.cross_validation, out, indent=2, ensure_ascii=False)
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as out:
        out.write(html)
    os.replace(partial, path)
    return path


def render(contents: ReportContents, config: PipelineConfig) -> str:
    """The whole report as one self-contained HTML document."""
    return _TEMPLATE.render(
        c=contents,
        run=contents.run,
        home=config.home,
        sections={
            key: title
            for key, title in SECTIONS.items()
            if key != "cross_validation" or contents.cross_validation
        },
        style=STYLE,
        error_groups=ERROR_GROUPS,
        ship_advice=fold_results.SHIP_ADVICE,
        label_error_confidence=LABEL_ERROR_CONFIDENCE,
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["pct"] = _percent
_TEMPLATE = _ENV.from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>signpipe run {{ run.run_id }}</title>
<style>{{ style|safe }}
section.part{border-top:3px solid #3366cc;margin-top:28px}section.part>h2{border:0}
.pair{display:flex;gap:10px;align-items:flex-start;margin:8px 0}.pair figure{margin:0;
 width:120px;font-size:11px;overflow-wrap:anywhere}details{margin:6px 0}
pre{white-space:pre-wrap;font-size:12px;background:#f7f7f7;padding:6px}
.whys{display:flex;flex-wrap:wrap;gap:8px 18px}figure.why{margin:4px 0;width:500px;
 font-size:12px;overflow-wrap:anywhere}figure.why img{display:block;max-width:500px}
</style></head><body>
<h1>signpipe run {{ run.run_id }}</h1>
<table class="facts"><tr><th>status</th><td>{{ run.status }}</td></tr>
<tr><th>started</th><td>{{ run.started.strftime("%Y-%m-%d %H:%M:%S UTC") }}</td></tr>
<tr><th>duration</th><td>{{ "%.0f"|format(run.seconds) }} s</td></tr>
<tr><th>home</th><td>{{ home }}</td></tr></table>
<nav><ol class="toc">{% for s, title in sections.items() %}
<li><a href="#{{ s }}">{{ title }}</a></li>
{% endfor %}</ol></nav>

<section class="part" id="outcome"><h2>Outcome</h2>{% set o = c.outcome %}
{% if o.failed %}<p class="verdict bad">Failed at {{ o.failed|join(", ") }}</p>
{% elif run.died_in %}<p class="verdict bad">Interrupted: its process died during
 {{ run.died_in|join(", ") }} and no run holds the home's run lock</p>
{% elif o.blessed %}<p class="verdict ok">Blessed{% if o.pushed %}, pushed as version
 {{ o.pushed[0] }}{% if o.push_cached %} (reused from the cache: nothing new pushed){% endif
 %}{% endif %}</p>
{% elif o.blessed is false %}<p class="verdict bad">Not blessed: not pushed</p>
<ul>{% for why in o.why_not %}<li>{{ why }}</li>{% endfor %}</ul>
{% elif c.cross_validation %}{% set v = c.cross_validation %}<p class="verdict ok">
Cross-validation: {{ v.mean_accuracy|pct }} mean accuracy on held-out groups, worst fold
 {{ v.worst_fold }} {{ v.worst_accuracy|pct }}; nothing is pushed</p>
{% else %}<p class="verdict warn">No model was evaluated in this run</p>{% endif %}
{% if o.pushed %}<p>Pushed to <code>{{ o.pushed[1] }}</code></p>{% endif %}
<details><summary>Configuration (each step's execution properties)</summary>
{% for component, properties in o.properties %}<h4>{{ component }}</h4><table>
{% for key, value in properties.items() %}<tr><th>{{ key }}</th><td class="v"><code>{{ value
 }}</code></td></tr>{% endfor %}</table>{% endfor %}</details>
<details><summary>Artifact locations</summary><table><tr><th>Step</th><th>Output</th>
<th>URI</th></tr>{% for component, key, uri in o.artifacts %}<tr><td>{{ component }}</td>
<td>{{ key }}</td><td class="v"><code>{{ uri }}</code></td></tr>{% endfor %}</table></details>
</section>

{% if c.cross_validation %}{% set v = c.cross_validation %}
<section class="part" id="cross_validation"><h2>Cross-validation</h2>
<p>Each fold's model trained on the other folds' groups and was measured on this fold's
groups, which it never saw. {{ ship_advice }}</p>
<table><tr><th>Fold</th><th>Held-out groups</th><th>Images</th><th>Accuracy</th></tr>
{% for f in v.folds %}<tr><td>{{ f.fold }}</td><td>{{ f.held_out|join(", ") }}</td>
<td class="n">{{ f.images }}</td><td class="n">{{ f.accuracy|pct }}</td></tr>{% endfor %}
<tr><th colspan="3">mean</th><td class="n">{{ v.mean_accuracy|pct }}</td></tr>
<tr><th colspan="3">worst ({{ v.worst_fold }})</th><td class="n">{{ v.worst_accuracy|pct
 }}</td></tr></table>
<h3>Recall per class and fold</h3><table><tr><th>Class</th>{% for f in v.folds %}<th>{{
 f.fold }}</th>{% endfor %}</tr>{% for label, values in v.class_recall.items() %}<tr><td>{{
 label }}</td>{% for value in values %}<td class="n">{{ value|pct }}</td>{% endfor %}</tr>
{% endfor %}</table></section>{% endif %}

<section class="part" id="training"><h2>Training</h2>{% if c.training %}{% set t = c.training %}
<img src="{{ t.curves }}" alt="learning curves: loss and accuracy per epoch">
<table><tr><th>Phase</th><th>Epochs</th><th>Loss</th><th>Accuracy</th><th>Eval loss</th>
<th>Eval accuracy</th></tr>{% for phase, v in t.last.items() %}<tr><td>{{ phase }}</td>
<td class="n">{{ v.epochs }}</td><td class="n">{{ "%.3f"|format(v.loss) }}</td>
<td class="n">{{ v.accuracy|pct }}</td><td class="n">{{ "%.3f"|format(v.val_loss) }}</td>
<td class="n">{{ v.val_accuracy|pct }}</td></tr>{% endfor %}</table>
<p>Unfrozen backbone layers in fine-tuning: {{ t.unfrozen_layers }}.
Backbone: {{ t.options.get("backbone") }} ({{ t.options.get("backbone_weights") }} weights),
{{ t.options.get("image_size") }} px.</p>
{% elif c.cross_validation %}<p class="muted">One model per fold: see Cross-validation
 and the Steps.</p>
{% else %}<p class="muted">No model was trained in this run.</p>{% endif %}</section>

<section class="part" id="evaluation"><h2>Evaluation</h2>
{% if c.evaluation %}{% set e = c.evaluation %}
<table class="facts"><tr><th>eval accuracy</th><td>{{ e.eval_accuracy|pct }}</td></tr>
<tr><th>test accuracy</th><td>{{ e.test_accuracy|pct }}</td></tr>
<tr><th>previous blessed model</th><td>{% if e.previous %}run {{ e.previous.run_id }}: eval
 {{ e.previous.eval_accuracy|pct }}, test {{ e.previous.test_accuracy|pct }}{% else
 %}none (first blessed model){% endif %}</td></tr></table>
<h3>Precision and recall per class (eval split)</h3><table><tr><th>Class</th>
<th>Precision</th><th>Recall</th></tr>{% for r in e.per_class %}<tr><td>{{ r.label }}</td>
<td class="n">{{ r.precision|pct }}</td><td class="n">{{ r.recall|pct }}</td></tr>
{% endfor %}</table>
{% if e.confusion %}<h3>Confusion matrix (eval split)</h3>
<img src="{{ e.confusion }}" alt="confusion matrix heat map">{% endif %}
<h3>Most confused pairs</h3>{% for p in e.pairs %}<div><strong>{{ p.true }} read as
 {{ p.predicted }}</strong>: {{ p.count }} of {{ p.of }} eval images<div class="pair">
{% for x in p.examples %}<figure><img src="{{ x.uri }}" alt="{{ x.path }}">
<figcaption>{{ x.path }} ({{ x.confidence|pct }})</figcaption></figure>{% endfor %}
</div></div>{% else %}<p>No mistakes on the eval split.</p>{% endfor %}
{% if e.errors %}{% set x = e.errors %}<h3 id="error-analysis">Error analysis (eval split)</h3>
<p>{{ x.counts.wrong }} of {{ x.counts.images }} eval images misclassified;
{{ x.counts.label_errors }} of them with at least {{ label_error_confidence|pct }} confidence.
Each picture, as <code>signpipe explain</code> draws it: above, the answer and each
branch's own answer and share in it; then the image as the model sees it, the hand's
joints (red: for the answer, blue: against), integrated gradients and Grad-CAM (brighter:
more influence on the answer).</p>
{% for key, title in error_groups.items() %}<h4>{{ title }}</h4><div class="whys">
{% for item in x[key] %}<figure class="why"><img src="{{ item.uri }}"
 alt="explanation of {{ item.path }}"><figcaption><code>{{ item.path }}</code>: labelled
 <strong>{{ item.label }}</strong>, read as <strong>{{ item.answer }}</strong>
 ({{ item.confidence|pct }}): {{ item.votes }}{% if item.joints %}; joints that weighed
 most: {{ item.joints }}{% endif %}</figcaption></figure>{% else %}<p class="muted">None.</p>
{% endfor %}</div>{% endfor %}{% endif %}
{% if e.population %}<h3 id="population">Population view</h3>
<img src="{{ e.population }}" alt="images by the model's features, projected to two dimensions">
{% endif %}
{% elif c.cross_validation %}<p class="muted">Each fold's model was evaluated on its
 held-out groups: see Cross-validation.</p>
{% else %}<p class="muted">No model was evaluated in this run.</p>{% endif %}</section>

<section class="part" id="tflite"><h2>TFLite</h2>
{% if c.tflite_table %}{{ c.tflite_table|safe }}
{% else %}<p class="muted">No TFLite models were made in this run.</p>{% endif %}</section>

<section class="part" id="data"><h2>Data</h2>
{% if c.data_html %}<div class="data-report">{{ c.data_html|safe }}</div>
{% else %}<p class="muted">The data validation report was not written in this run.</p>
{% endif %}</section>

<section class="part" id="steps"><h2>Steps</h2><table><tr><th>Step</th><th>State</th>
<th>Seconds</th></tr>{% for s in run.steps %}<tr><td>{{ s.component }}</td>
<td>{{ "DIED" if s.component in run.died_in else s.state }}</td>
<td class="n">{{ "%.1f"|format(s.seconds) }}</td></tr>{% endfor %}</table></section>
</body></html>
"""
)
