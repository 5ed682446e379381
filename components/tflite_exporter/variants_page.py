"""The TFLite variants table as a self-contained HTML page (also embedded in run reports)."""

import html

_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}.no{color:#b00}.yes{color:#070}"
)


def _latency(result: dict, key: str) -> str:
    timing = result["latency"][key]
    return f"{timing['median_ms']:.2f} / {timing['p90_ms']:.2f}"


def table(report: dict) -> str:
    """An HTML table: one row per variant with accuracy, size, latency and verdict."""
    float_size = report["variants"].get("float32", {}).get("size_bytes")
    cores = next(
        (
            r["latency"]["all_cores"]["threads"]
            for r in report["variants"].values()
            if "latency" in r
        ),
        "all",
    )
    rows = [
        "<tr><th>variant</th><th>top-1</th><th>agreement</th><th>size (KB)</th>"
        "<th>size vs float32</th><th>latency ms, 1 thread (median / p90)</th>"
        f"<th>latency ms, {cores} threads</th><th>ops in float</th><th>blessed</th></tr>"
    ]
    for name, result in report["variants"].items():
        verdict = "yes" if result["blessed"] else "no"
        why = html.escape(result.get("why", ""))
        if result["status"] != "ok":
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td colspan=7>failed</td>"
                f'<td class="no" title="{why}">no: {why}</td></tr>'
            )
            continue
        ratio = f"{result['size_bytes'] / float_size:.2f}x" if float_size else "n/a"
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{result['accuracy']:.2%}</td>"
            f"<td>{result['agreement']:.2%}</td><td>{result['size_bytes'] / 1024:,.0f}</td>"
            f"<td>{ratio}</td><td>{_latency(result, 'one_thread')}</td>"
            f"<td>{_latency(result, 'all_cores')}</td><td>{result['float_ops']}</td>"
            f'<td class="{verdict}" title="{why}">{verdict}{": " + why if why else ""}</td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


def _inputs_section(report: dict) -> str:
    """What a phone app feeds each input (the report's `inputs`), as HTML."""
    docs = report["inputs"]
    items = "".join(
        f"<li><code>{html.escape(name)}</code> {spec['shape']}: {html.escape(spec['how'])}</li>"
        for name, spec in docs["inputs"].items()
    )
    return (
        f"<h2>Inputs of the <code>classify_image</code> signature</h2>"
        f"<p>{html.escape(docs['source'])}</p><p>{html.escape(docs['values'])} "
        f"{html.escape(docs['batch'])}</p><ul>{items}</ul>"
    )


def render(report: dict) -> str:
    """The whole page: what was measured, the table, the inputs and where the files went."""
    pushed = report.get("pushed_to") or report.get("not_pushed_because", "")
    found = report["representative_hands_found"]
    hands = "" if found is None else f", {found} of them with a hand found"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>TFLite variants</title>"
        f"<style>{_STYLE}</style></head><body><h1>TFLite variants</h1>"
        f"<p>Measured on the {html.escape(report['split'])} split ({report['images']} images). "
        f"SavedModel top-1: {report['saved_model_accuracy']:.2%}. A variant is blessed when "
        f"it loses at most {report['max_drop_from_saved_model'] * 100:.2f} points. Int8 "
        f"variants are calibrated on {report['representative_images']} training images{hands}.</p>"
        f"{table(report)}{_inputs_section(report)}<p>Pushed: {html.escape(pushed)}</p>"
        "</body></html>"
    )
