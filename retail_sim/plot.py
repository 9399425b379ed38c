"""Line charts of evaluation metrics with matplotlib (Agg backend: no display needed).

`line_chart(path, x_labels, series, title=..., x_label=..., y_label=...)`: one line per series over
the categories x_labels (NaN leaves a gap), the y axis from 0, both axes labelled, the category
labels thinned to what fits and rotated, and the figure saved with every label inside it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, whatever the environment's display

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MAX_TICKS = 24  # category labels shown at most; the others are thinned out evenly


def chart(x_labels: list[str], series: dict[str, list[float]], title: str = "", x_label: str = "",
          y_label: str = "", size: tuple[float, float] = (9.6, 5.4)) -> Figure:
    """The Figure line_chart saves (for callers that want to add to it)."""
    fig, ax = plt.subplots(figsize=size, dpi=100)
    x = list(range(len(x_labels)))
    for name, values in series.items():
        ax.plot(x, [v if v is not None and math.isfinite(v) else math.nan for v in values],
                marker="o", markersize=3, linewidth=1.5, label=name, clip_on=False, zorder=3)  # 0 drawn over the axis
    every = max(1, math.ceil(len(x_labels) / MAX_TICKS))
    ax.set_xticks(x[::every], [str(label) for label in x_labels[::every]], rotation=45, ha="right")
    ax.set_xlim(-0.5, max(len(x_labels) - 0.5, 0.5))
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y", color="0.9")
    ax.set_title(title)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    if series:
        ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig


def line_chart(path: Path | str, x_labels: list[str], series: dict[str, list[float]], title: str = "",
               x_label: str = "", y_label: str = "") -> Path:
    """Write a PNG line chart: one line per series (NaN values leave a gap), categories on x."""
    fig = chart(x_labels, series, title=title, x_label=x_label, y_label=y_label)
    path = Path(path)
    fig.savefig(path, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path
