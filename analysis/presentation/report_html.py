"""The interactive report page, packed small: plotly.js and every figure gzip-compressed once.

A two-run amazon-scientific report holds 55 figures. Written the plain way (plotly.js inlined,
each figure a ``Plotly.newPlot`` call with its JSON) it is 9.3 MB, 4.8 MB of which is
plotly.js itself, and the browser draws all 55 figures before the page answers (9.4 s). Here:

- plotly.js is stored once, gzip-compressed and base64-encoded (1.96 MB instead of 4.8 MB);
- the figures are one JSON array, compact (float64 arrays as float32: 7 significant digits,
  far below a pixel of any plot or a digit of any hover text; other floats to
  :data:`SIGNIFICANT_DIGITS` digits), compressed the same way (1.3 MB instead of about 4.4);
- a small loader inflates both with the browser's ``DecompressionStream`` (every browser
  since 2023) and draws each figure when it comes within 800 px of the view, all of them
  before printing; ``window.rqvaeDrawAll()`` draws every figure at once.

Nothing is downsampled: every point, bar and hover text of every figure is kept. The page
still needs no network.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

SIGNIFICANT_DIGITS = 6
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
DEFAULT_HEIGHT = 450  # pixels reserved for a figure without a layout height (plotly's default)

LOADER = """
(function () {
  var config = %(config)s;
  var figures = null, drawn = {};
  function inflate(id) {
    var text = document.getElementById(id).textContent.trim();
    var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  function draw(index) {
    if (drawn[index]) { return; }
    drawn[index] = true;
    var figure = figures[index];
    Plotly.newPlot("figure-" + index, figure.data, figure.layout, config);
  }
  window.rqvaeDrawAll = function () { figures.forEach(function (_, i) { draw(i); }); };
  inflate("rqvae-plotly").then(function (code) {
    window.PlotlyConfig = {MathJaxConfig: "local"};
    (0, eval)(code);
    return inflate("rqvae-figures");
  }).then(function (json) {
    figures = JSON.parse(json);
    var holders = document.querySelectorAll("div[data-figure]");
    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) {
            observer.unobserve(entry.target);
            draw(Number(entry.target.dataset.figure));
          }
        });
      }, {rootMargin: "800px"});
      holders.forEach(function (holder) { observer.observe(holder); });
    } else {
      window.rqvaeDrawAll();
    }
    window.addEventListener("beforeprint", window.rqvaeDrawAll);
    document.body.dataset.figures = String(figures.length);
  }).catch(function (error) {
    var note = document.createElement("p");
    note.className = "unavailable";
    note.textContent = "The figures could not be drawn (" + error + "); open the report in a "
      + "current Chromium, Firefox or Safari.";
    document.body.insertBefore(note, document.body.firstChild);
  });
})();
"""


def compact(value: Any) -> Any:
    """A figure's JSON with float64 typed arrays as float32 and other floats rounded to
    :data:`SIGNIFICANT_DIGITS` significant digits (ints, strings and shapes unchanged)."""
    if isinstance(value, dict):
        if "bdata" in value and value.get("dtype") == "f8":
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype="<f8")
            encoded = base64.b64encode(array.astype("<f4").tobytes()).decode()
            return {**value, "dtype": "f4", "bdata": encoded}
        return {key: compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compact(item) for item in value]
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def figure_json(figure: go.Figure) -> dict[str, Any]:
    """``{"data", "layout"}`` of ``figure`` as plotly.js takes it, compacted."""
    document = json.loads(pio.to_json(figure, validate=False))
    return compact({"data": document.get("data", []), "layout": document.get("layout", {})})


def packed(text: str) -> str:
    """``text`` gzip-compressed (no timestamp: the same input gives the same bytes) and
    base64-encoded, for a ``<script type='text/plain'>`` element."""
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode()


def figure_holder(index: int, figure: go.Figure) -> str:
    """The empty div figure ``index`` is drawn into, as tall as the figure will be."""
    height = figure.layout.height or DEFAULT_HEIGHT
    return (
        f"<div class='figure'><div id='figure-{index}' data-figure='{index}' "
        f"style='min-height:{int(height)}px'></div></div>"
    )


def scripts(figures: list[go.Figure]) -> str:
    """The end of the page body: packed plotly.js, the packed figures and the loader."""
    documents = json.dumps([figure_json(f) for f in figures], separators=(",", ":"))
    return (
        "<noscript><p class='unavailable'>The figures of this report are drawn by JavaScript."
        "</p></noscript>"
        f"<script type='text/plain' id='rqvae-plotly'>{packed(plotly.offline.get_plotlyjs())}"
        "</script>"
        f"<script type='text/plain' id='rqvae-figures'>{packed(documents)}</script>"
        f"<script>{LOADER % {'config': json.dumps(PLOTLY_CONFIG)}}</script>"
    )
