"""A Plotly figure on the page that is built once and then only has its traces' data replaced.

`solara.FigurePlotly` swaps every trace and the whole layout on each change; here the skeleton (layout, static
lines, empty traces) goes to the browser once per figure, and an update sends a single batched `restyle` of the
traces named in it (by their `meta`: FigureWidget replaces `uid`s), plus the title when it changed. plotly.js then redraws in the browser.
"""

from __future__ import annotations

from pathlib import Path

import ipyvuetify as v
import plotly
import plotly.graph_objects as go
import solara
from plotly.graph_objs._figurewidget import FigureWidget

from sim.dashboard.plots import Updates

# plotly.js sizes a plot to its container when the window is resized ("responsive"); no logo link off the machine.
CONFIG = {"responsive": True, "displaylogo": False}
# A plot is first drawn before its element is attached to the page, at plotly's default 700 px, wider than a
# column at 1024 px. This script, placed once on the page, has every plot re-measure its container after it is
# drawn and whenever the page's width changes (a window "resize" event, which responsive plots listen to).
_RESIZER = """
<template><span style="display: none"></span></template>
<script>
module.exports = {
  mounted() {
    const resize = () => setTimeout(() => window.dispatchEvent(new Event("resize")), 50);
    this.onRender = resize;
    document.addEventListener("plotlywidget-after-render", resize);
    let width = 0;
    this.observer = new ResizeObserver(entries => {
      const now = Math.round(entries[0].contentRect.width);
      if (now !== width) { width = now; resize(); }
    });
    this.observer.observe(document.body);
  },
  beforeDestroy() {
    document.removeEventListener("plotlywidget-after-render", this.onRender);
    this.observer.disconnect();
  },
};
</script>
"""


def apply(widget: go.FigureWidget | go.Figure, data: Updates, title: str | None = None) -> None:
    """Set the traces' properties by their meta name in one batch (one message to the browser), and the title if given."""
    traces = {trace.meta: trace for trace in widget.data if trace.meta}
    with widget.batch_update():
        for uid, props in data.items():
            traces[uid].update(props)
        if title is not None and widget.layout.title.text != title:
            widget.layout.title.text = title


@solara.component
def LiveFigure(skeleton: go.Figure, data: Updates, version: object, title: str | None = None,
               classes: list[str] | None = None):
    """`skeleton` drawn once (again only if another skeleton object is given), then `data` applied to it whenever
    `version` changes; in a Div with `classes` (for the page's tests and styles)."""
    with solara.Div(classes=classes or [], style={"width": "100%"}):
        _Figure(skeleton, data, version, title)


class ResponsiveFigure(FigureWidget):
    """A FigureWidget whose plotly.js configuration (CONFIG) is there from its first drawing, and that can be freed.

    plotly names its front-end code as a file; anywidget then connects every widget made from it to that file's
    change signal, a global that keeps the widget (and its data) alive after its session has closed. Given as the
    file's text, read once, the code is the same and nothing holds a closed figure.
    """

    _esm = (Path(plotly.__file__).parent / "package_data" / "widgetbundle.js").read_text(encoding="utf-8")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._config = dict(CONFIG)


@solara.component
def Resizer():
    """Fits every plot on the page to its column (see _RESIZER); place it once."""
    v.VuetifyTemplate.element(template=_RESIZER)


@solara.component
def _Figure(skeleton: go.Figure, data: Updates, version: object, title: str | None):
    element = ResponsiveFigure.element()

    def build():
        widget: ResponsiveFigure = solara.get_widget(element)
        with widget.batch_update():
            widget.data = []
            widget.layout = skeleton.layout
            widget.add_traces(skeleton.data)

    def update():
        apply(solara.get_widget(element), data, title)

    solara.use_effect(build, [id(skeleton)])
    solara.use_effect(update, [id(skeleton), version])
