"""Pieces of signpipe's self-contained HTML pages: the shared style sheet, figures and
thumbnails as data URIs."""

import base64
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageOps

THUMBNAIL_PX = 96


def png_uri(fig: Figure) -> str:
    """Render a matplotlib figure (Agg) to a PNG data URI."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail(data: bytes, size: int = THUMBNAIL_PX) -> str:
    """Decode an encoded image and re-encode a small JPEG (or PNG with alpha) data URI."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (size * 2, size * 2))
        image.load()
        image = ImageOps.exif_transpose(image)
        alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        image = image.convert("RGBA" if alpha else "RGB")
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG" if alpha else "JPEG", quality=85)
    mime = "png" if alpha else "jpeg"
    return f"data:image/{mime};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


STYLE = """\
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
 max-width:1200px;padding:0 20px 40px;color:#222}
h1{font-size:22px;margin:20px 0 8px}h2{border-bottom:2px solid #ddd;padding-top:12px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px;
 text-align:left;vertical-align:top}
td.v{overflow-wrap:anywhere;min-width:200px}
th{background:#f3f3f3}td.n{text-align:right;white-space:nowrap;
 font-variant-numeric:tabular-nums}tr.error td.sev{color:#b71c1c;font-weight:bold}
tr.warning td.sev{color:#a15c00;font-weight:bold}tr.total td{font-weight:bold;background:#fafafa}
.verdict{display:inline-block;padding:6px 14px;border-radius:4px;font-weight:bold;font-size:16px}
.ok{background:#e8f5e9;color:#1b5e20}.bad{background:#ffebee;color:#b71c1c}
.warn{background:#fff8e1;color:#8a5300}.smallest td:first-child{color:#c62828;font-weight:bold}
.largest td:first-child{color:#1565c0;font-weight:bold}.facts th{background:none;border:0;
 padding-right:16px}.facts td{border:0;word-break:break-all}.toc{margin:4px 0}
.charts{display:flex;flex-wrap:wrap;gap:10px}img{max-width:100%}.samples td{vertical-align:middle}
.ph{display:inline-flex;align-items:center;justify-content:center;width:96px;height:72px;
 background:#eee;border:1px dashed #999;color:#666;font-size:11px;text-align:center}
.thumbs img,.thumbs .ph{margin:2px;vertical-align:middle}.muted{color:#777}
dl.cs{margin:0}dl.cs dt{font-weight:bold;display:inline}dl.cs dd{display:inline;margin:0 0 0 4px}
td.low{color:#b71c1c}.card{display:inline-block;max-width:160px;margin:2px;vertical-align:top;
 font-size:11px;overflow-wrap:anywhere}
"""  # the data report's, and the run report's, which embeds it
