"""A small PNG line chart drawn with numpy and written with zlib + struct (no plotting library).

`line_chart(path, x_labels, series, title=..., y_label=...)`: one coloured line per series over
the categories x_labels, y axis from 0 to the largest value (rounded up), grid, tick labels, and
a legend. Text uses a built-in 5x7 pixel font (upper case; other characters become '?')."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GRID = (225, 225, 225)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]

# 5x7 glyphs, rows top to bottom, '1' = ink
_FONT_ROWS = {
    "A": "01110,10001,10001,11111,10001,10001,10001", "B": "11110,10001,10001,11110,10001,10001,11110",
    "C": "01110,10001,10000,10000,10000,10001,01110", "D": "11110,10001,10001,10001,10001,10001,11110",
    "E": "11111,10000,10000,11110,10000,10000,11111", "F": "11111,10000,10000,11110,10000,10000,10000",
    "G": "01110,10001,10000,10111,10001,10001,01111", "H": "10001,10001,10001,11111,10001,10001,10001",
    "I": "01110,00100,00100,00100,00100,00100,01110", "J": "00111,00010,00010,00010,00010,10010,01100",
    "K": "10001,10010,10100,11000,10100,10010,10001", "L": "10000,10000,10000,10000,10000,10000,11111",
    "M": "10001,11011,10101,10101,10001,10001,10001", "N": "10001,10001,11001,10101,10011,10001,10001",
    "O": "01110,10001,10001,10001,10001,10001,01110", "P": "11110,10001,10001,11110,10000,10000,10000",
    "Q": "01110,10001,10001,10001,10101,10010,01101", "R": "11110,10001,10001,11110,10100,10010,10001",
    "S": "01111,10000,10000,01110,00001,00001,11110", "T": "11111,00100,00100,00100,00100,00100,00100",
    "U": "10001,10001,10001,10001,10001,10001,01110", "V": "10001,10001,10001,10001,10001,01010,00100",
    "W": "10001,10001,10001,10101,10101,10101,01010", "X": "10001,10001,01010,00100,01010,10001,10001",
    "Y": "10001,10001,10001,01010,00100,00100,00100", "Z": "11111,00001,00010,00100,01000,10000,11111",
    "0": "01110,10001,10011,10101,11001,10001,01110", "1": "00100,01100,00100,00100,00100,00100,01110",
    "2": "01110,10001,00001,00010,00100,01000,11111", "3": "11111,00010,00100,00010,00001,10001,01110",
    "4": "00010,00110,01010,10010,11111,00010,00010", "5": "11111,10000,11110,00001,00001,10001,01110",
    "6": "00110,01000,10000,11110,10001,10001,01110", "7": "11111,00001,00010,00100,01000,01000,01000",
    "8": "01110,10001,10001,01110,10001,10001,01110", "9": "01110,10001,10001,01111,00001,00010,01100",
    ".": "00000,00000,00000,00000,00000,01100,01100", ",": "00000,00000,00000,00000,01100,00100,01000",
    "-": "00000,00000,00000,11111,00000,00000,00000", "_": "00000,00000,00000,00000,00000,00000,11111",
    ":": "00000,01100,01100,00000,01100,01100,00000", "/": "00000,00001,00010,00100,01000,10000,00000",
    "@": "01110,10001,00001,01101,10101,10101,01110", "(": "00010,00100,01000,01000,01000,00100,00010",
    ")": "01000,00100,00010,00010,00010,00100,01000", "%": "11000,11001,00010,00100,01000,10011,00011",
    "=": "00000,00000,11111,00000,11111,00000,00000", " ": "00000,00000,00000,00000,00000,00000,00000",
    "?": "01110,10001,00001,00010,00100,00000,00100",
}
FONT = {ch: np.array([[c == "1" for c in row] for row in rows.split(",")]) for ch, rows in _FONT_ROWS.items()}
GLYPH_W, GLYPH_H, SCALE = 6, 7, 2  # advance 5 px + 1 px spacing, drawn at 2x


def encode_png(rgb: np.ndarray) -> bytes:
    """[H, W, 3] uint8 -> PNG bytes (8-bit RGB, filter 0 on every row)."""
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def decode_png(data: bytes) -> np.ndarray:
    """Inverse of encode_png for its own output (filter 0 rows only): PNG bytes -> [H, W, 3] uint8."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if tag == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 3)
    return rows[:, 1:].reshape(h, w, 3).copy()


class Canvas:
    def __init__(self, width: int, height: int):
        self.img = np.full((height, width, 3), 255, np.uint8)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color) -> None:
        h, w, _ = self.img.shape
        self.img[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color, width: int = 2) -> None:
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.rint(np.linspace(x0, x1, n)).astype(int)
        ys = np.rint(np.linspace(y0, y1, n)).astype(int)
        h, w, _ = self.img.shape
        for dx in range(-(width // 2), width - width // 2):
            for dy in range(-(width // 2), width - width // 2):
                x, y = xs + dx, ys + dy
                ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
                self.img[y[ok], x[ok]] = color

    def text(self, x: int, y: int, s: str, color=BLACK, align: str = "left") -> None:
        s = s.upper()
        if align == "right":
            x -= text_width(s)
        elif align == "center":
            x -= text_width(s) // 2
        for i, ch in enumerate(s):
            glyph = FONT.get(ch, FONT["?"])
            ys, xs = np.nonzero(np.kron(glyph, np.ones((SCALE, SCALE), bool)))
            px, py = xs + x + i * GLYPH_W * SCALE, ys + y
            h, w, _ = self.img.shape
            ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            self.img[py[ok], px[ok]] = color


def text_width(s: str) -> int:
    return len(s) * GLYPH_W * SCALE


def nice_ceiling(value: float) -> float:
    """Smallest of 1, 2, 2.5, 5 x 10^k that is >= value (1.0 for value <= 0 or NaN)."""
    if not value > 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= value - 1e-12:
            return m * exp
    return 10 * exp


def line_chart(path: Path, x_labels: list[str], series: dict[str, list[float]], title: str = "",
               y_label: str = "", width: int = 960, height: int = 540) -> Path:
    """Write a PNG line chart: one line per series (NaN values leave a gap), categories on x."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 90, 20, 50, 110
    pw, ph = width - left - right, height - top - bottom
    values = np.array([v for vs in series.values() for v in vs], dtype=float)
    y_max = nice_ceiling(float(np.nanmax(values)) if np.isfinite(values).any() else 1.0)
    n = max(len(x_labels), 1)

    def px(i: int) -> float:
        return left + (pw * (i + 0.5) / n)

    def py(v: float) -> float:
        return top + ph * (1 - v / y_max)

    for k in range(6):  # horizontal grid and y tick labels
        v = y_max * k / 5
        y = int(round(py(v)))
        canvas.rect(left, y, left + pw, y + 1, GRID)
        canvas.text(left - 8, y - 7, f"{v:.3g}", align="right")
    canvas.rect(left, top, left + 2, top + ph, BLACK)
    canvas.rect(left, top + ph, left + pw, top + ph + 2, BLACK)
    widest = max((text_width(str(label)) for label in x_labels), default=0) + 12
    every = max(1, int(math.ceil(len(x_labels) * widest / max(pw, 1))))
    for i, label in enumerate(x_labels):
        if i % every == 0:
            canvas.rect(int(px(i)), top + ph, int(px(i)) + 1, top + ph + 6, BLACK)
            canvas.text(int(px(i)), top + ph + 10, str(label), align="center")
    for j, (name, vs) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        pts = [(px(i), py(v)) for i, v in enumerate(vs)]
        for i, (x, y) in enumerate(pts):
            if not math.isfinite(vs[i]):
                continue
            canvas.rect(int(x) - 3, int(y) - 3, int(x) + 4, int(y) + 4, color)
            if i + 1 < len(pts) and math.isfinite(vs[i + 1]):
                canvas.line(x, y, pts[i + 1][0], pts[i + 1][1], color)
        lx = left + 10 + j * (pw // max(len(series), 1))  # legend row under the x labels
        canvas.rect(lx, height - 40, lx + 24, height - 28, color)
        canvas.text(lx + 30, height - 41, name)
    canvas.text(width // 2, 15, title, align="center")
    canvas.text(10, top - 25, y_label)
    path = Path(path)
    path.write_bytes(encode_png(canvas.img))
    return path
