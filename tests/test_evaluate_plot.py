"""The recall chart (matplotlib): a PNG whose lines sit where their values say, with labelled axes
and every category label inside the figure."""

from __future__ import annotations

import matplotlib.image
import numpy as np
from matplotlib.colors import to_rgb

from retail_sim.plot import chart, line_chart


def test_line_chart_draws_series_at_their_values(tmp_path):
    path = line_chart(tmp_path / "c.png", ["2006-04-10", "2006-04-11", "2006-04-12"],
                      {"high": [0.8, 0.8, 0.8], "low": [0.0, 0.0, float("nan")]},
                      title="recall@10 by date", x_label="date", y_label="recall@10")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(path)[..., :3]
    rows = {}
    for name, color in (("high", "C0"), ("low", "C1")):
        ys, _ = np.nonzero((np.abs(img - np.array(to_rgb(color))) < 0.02).all(axis=-1))
        assert ys.size > 50, name  # the line is drawn in its colour (the legend's swatch is small)
        rows[name] = np.median(ys)
    assert rows["high"] < rows["low"] - 200  # 0.8 drawn well above 0.0 (image rows grow downwards)


def test_axes_are_labelled_and_every_tick_label_fits():
    labels = [f"2006-{m:02d}-{d:02d} 13:00" for m in (4, 5, 6) for d in range(1, 29)]  # 84 long labels
    fig = chart(labels, {"model": list(np.linspace(0.1, 0.3, len(labels)))}, title="t", x_label="hour",
                y_label="recall@10")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "hour" and ax.get_ylabel() == "recall@10" and ax.get_ylim()[0] == 0
    shown = [t.get_text() for t in ax.get_xticklabels()]
    assert 10 <= len(shown) <= 24 and shown[0] == labels[0]  # thinned, not crowded
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    low, high = ax.get_ylim()
    y_ticks = [t for t, v in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True) if low <= v <= high]
    for text in [*ax.get_xticklabels(), *y_ticks, ax.xaxis.label, ax.yaxis.label]:
        extent = text.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1, text
