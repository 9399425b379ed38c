"""The PNG chart writer: a valid PNG whose pixels show each series where its values say."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from retail_sim.plot import PALETTE, decode_png, encode_png, line_chart, nice_ceiling


def test_encode_png_is_valid_and_round_trips():
    img = np.zeros((3, 4, 3), np.uint8)
    img[1, 2] = (10, 20, 30)
    data = encode_png(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, tag = struct.unpack(">I", data[8:12])[0], data[12:16]
    assert tag == b"IHDR" and length == 13
    assert struct.unpack(">II", data[16:24]) == (4, 3)
    crc = struct.unpack(">I", data[29:33])[0]
    assert crc == zlib.crc32(data[12:29]) & 0xFFFFFFFF
    assert np.array_equal(decode_png(data), img)


def test_nice_ceiling():
    assert nice_ceiling(0.37) == 0.5 and nice_ceiling(0.2) == 0.2 and nice_ceiling(3.1) == 5
    assert nice_ceiling(float("nan")) == 1.0


def test_line_chart_draws_series_at_their_values(tmp_path):
    path = line_chart(tmp_path / "c.png", ["2006-04-10", "2006-04-11", "2006-04-12"],
                      {"high": [1.0, 1.0, 1.0], "low": [0.0, 0.0, float("nan")]},
                      title="recall@10 by date", y_label="recall@10")
    img = decode_png(path.read_bytes())
    assert img.shape == (540, 960, 3)
    rows = {}
    for name, color in (("high", PALETTE[0]), ("low", PALETTE[1])):
        ys, xs = np.nonzero((img == color).all(axis=-1))
        plot_area = xs > 90  # exclude the legend swatch row below the plot
        rows[name] = np.median(ys[plot_area & (ys < 540 - 60)])
    # y axis runs 0..1: 'high' near the top of the plot area (y=50), 'low' at its bottom (y=430)
    assert abs(rows["high"] - 50) <= 4 and abs(rows["low"] - 430) <= 4
