"""Drawing in a terminal: braille line charts, coloured matrices, bar histograms and half-block images.

Pure functions from numbers to ``rich.text.Text`` lines, sized to the cells they are given, so the
widgets only decide the size and the tests can check the drawing without an app.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from orderlab.errors import epoch_text, unsigned_zero

# One colour per architecture (in order of appearance), readable on dark and light themes.
ARCH_COLOURS = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#4db6ac", "#f06292"]

# Viridis stops: perceptually even, readable for colour-blind users.
_CMAP = np.array([[0x44, 0x01, 0x54], [0x3b, 0x52, 0x8b], [0x21, 0x91, 0x8c], [0x5e, 0xc9, 0x62],
                  [0xfd, 0xe7, 0x25]], dtype=float)


def arch_colour(i: int) -> str:
    return ARCH_COLOURS[i % len(ARCH_COLOURS)]


def cmap(value: float, lo: float = 0.0, hi: float = 1.0) -> tuple[int, int, int]:
    """Viridis colour of ``value`` on [lo, hi] (clipped), in 128 steps (so styles repeat)."""
    t = 0.0 if hi <= lo else (float(value) - lo) / (hi - lo)
    return _cmap_step(int(round(min(1.0, max(0.0, t)) * 127)))


@lru_cache(maxsize=128)
def _cmap_step(step: int) -> tuple[int, int, int]:
    t = step / 127 * (len(_CMAP) - 1)
    i = min(int(t), len(_CMAP) - 2)
    c = _CMAP[i] + (t - i) * (_CMAP[i + 1] - _CMAP[i])
    return int(round(c[0])), int(round(c[1])), int(round(c[2]))


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _ink(rgb: tuple[int, int, int]) -> str:
    """Black or white text, whichever reads better on ``rgb``."""
    r, g, b = rgb
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def _dim(colour: str, amount: float = 0.3, base: tuple[int, int, int] = (0x1e, 0x1e, 0x1e)) -> str:
    c = Color.parse(colour).get_truecolor()
    return _hex(tuple(int(b + amount * (x - b)) for x, b in zip(c, base)))  # type: ignore[arg-type]


def _mix(a: str, b: str) -> str:
    ca, cb = Color.parse(a).get_truecolor(), Color.parse(b).get_truecolor()
    return _hex(tuple((x + y) // 2 for x, y in zip(ca, cb)))  # type: ignore[arg-type]


_GLUE = "\ue000"      # a private-use character: one cell wide, never in orderlab's own text


def fit_lines(text: Text, width: int, max_lines: int, more: str = "") -> Text:
    """``text`` wrapped to ``width`` (lines joined by newlines: a drawing crops, it does not wrap)
    and cut to ``max_lines`` lines, the last ending in "…" when anything is left out (a widget's
    max-height cuts without a sign), and ``more`` after it (where to read the rest)."""
    from rich.console import Console
    if width < 2:
        return text
    # A separating " · " binds to the word before it, so no line starts with its dot: the space
    # before the dot becomes a placeholder (one cell, no space to break at) until lines are made.
    glued = text.copy()
    glued.plain = text.plain.replace(" · ", _GLUE + "· ")
    lines = glued.wrap(Console(width=width, file=io.StringIO()), width)
    if len(lines) <= 1:
        return text
    for line in lines:
        line.rstrip()               # the space a line was broken at
        line.plain = line.plain.replace(_GLUE, " ")
    if len(lines) <= max_lines:
        return Text("\n").join(lines)
    last = lines[max_lines - 1]
    room = width - 1 - len(more)
    if last.cell_len > room:
        # at a space where one is near: "a position counts st…" read as a word (nor a separating
        # dot left hanging)
        cut = last.plain.rfind(" ", 0, room + 1) if room > 0 else -1
        last.truncate(cut if cut > room // 2 else max(0, room))
        last.rstrip()
        if last.plain.endswith(" ·"):
            last.truncate(len(last.plain) - 2)
    last.append("…")
    last.append(more, style="bold not italic")
    return Text("\n").join(lines[:max_lines])


def line_room(node) -> int:
    """The cells a line of the study screen's text holds (status, notes, legends, view status
    lines), for ``node`` (that screen, or a widget on it): its status line's width, which a panel
    docked beside the screen narrows (Textual's keys panel: the lines were broken for the
    terminal's width and cut); before that line is laid out, the terminal's width less the
    one-cell padding on each side those lines have."""
    from textual.css.query import NoMatches
    from textual.screen import Screen
    screen = node if isinstance(node, Screen) else node.screen
    try:
        width = screen.query_one("#study-status").content_region.width
    except NoMatches:
        width = 0
    return width if width > 0 else node.app.size.width - 2


def pack_segments(segments: Sequence[Text], width: int, sep: str = " · ",
                  extra: Text | None = None) -> Text:
    """``segments`` joined by ``sep`` in lines of at most ``width`` cells, each line broken between
    segments, never inside one (a segment wider than a line is left for the widget to wrap);
    ``extra`` only where the last line has room for it (a detail not worth a line of its own)."""
    lines: list[Text] = []
    for seg in segments:
        if lines and lines[-1].cell_len + len(sep) + seg.cell_len <= width:
            lines[-1].append(sep)
            lines[-1].append_text(seg)
        else:
            lines.append(seg.copy())
    if extra is not None and lines and lines[-1].cell_len + len(sep) + extra.cell_len <= width:
        lines[-1].append(sep, style=extra.style)
        lines[-1].append_text(extra)
    return Text("\n").join(lines)


def fmt(v: float | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return unsigned_zero(f"{v:.{digits}f}")


# ------------------------------------------------------------------ braille canvas

# Bit of each braille dot, indexed [row][column] within a 2x4 cell.
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


class Canvas:
    """A grid of ``width x height`` cells, each a 2x4 braille dot matrix with one colour,
    plus an optional background colour per cell (used to shade areas)."""

    def __init__(self, width: int, height: int):
        self.width, self.height = max(1, width), max(1, height)
        self.bits = np.zeros((self.height, self.width), np.uint8)
        self.fg: list[list[str | None]] = [[None] * self.width for _ in range(self.height)]
        self.bg: list[list[str | None]] = [[None] * self.width for _ in range(self.height)]
        self.char: dict[tuple[int, int], tuple[str, str]] = {}

    @property
    def px(self) -> tuple[int, int]:
        return 2 * self.width, 4 * self.height

    def dot(self, x: int, y: int, colour: str) -> None:
        """Dot at pixel (x, y); y = 0 is the top."""
        if 0 <= x < 2 * self.width and 0 <= y < 4 * self.height:
            r, c = y // 4, x // 2
            self.bits[r, c] |= _DOTS[y % 4][x % 2]
            self.fg[r][c] = colour

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: str, dotted: bool = False) -> None:
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for i in range(n + 1):
            if dotted and i % 3 == 2:
                continue
            t = i / n
            self.dot(int(round(x0 + t * (x1 - x0))), int(round(y0 + t * (y1 - y0))), colour)

    def shade(self, col: int, row0: int, row1: int, colour: str) -> None:
        """Tint cells; where areas of several colours overlap, their tints are mixed."""
        for r in range(max(0, min(row0, row1)), min(self.height, max(row0, row1) + 1)):
            if 0 <= col < self.width:
                old = self.bg[r][col]
                self.bg[r][col] = colour if old is None else _mix(old, colour)

    def put(self, col: int, row: int, ch: str, colour: str) -> None:
        if 0 <= col < self.width and 0 <= row < self.height:
            self.char[(row, col)] = (ch, colour)

    def lines(self) -> list[Text]:
        out = []
        for r in range(self.height):
            t = Text()
            for c in range(self.width):
                bg = self.bg[r][c]
                if (r, c) in self.char:
                    ch, colour = self.char[(r, c)]
                    t.append(ch, Style(color=colour, bgcolor=bg, bold=True))
                    continue
                b = int(self.bits[r, c])
                ch = chr(0x2800 + b) if b else " "
                t.append(ch, Style(color=self.fg[r][c], bgcolor=bg) if (b or bg) else Style())
            out.append(t)
        return out


@dataclass
class Series:
    label: str
    x: np.ndarray
    y: np.ndarray
    colour: str
    dotted: bool = False


@dataclass
class Band:
    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    colour: str


def line_chart(series: Sequence[Series], width: int, height: int, *, bands: Sequence[Band] = (),
               y_range: tuple[float, float] = (0.0, 1.0), x_label: str = "epoch",
               marker_x: float | None = None, x_span: Sequence[float] = ()) -> list[Text]:
    """A braille line chart with a y axis on the left and an x axis below; ``bands`` are shaded.
    ``x_span``: positions the x axis covers besides the series' (the study's, where none is drawn)."""
    ylab_w = 5
    plot_w, plot_h = max(4, width - ylab_w - 1), max(2, height - 2)
    xs = [s.x for s in series if len(s.x)] + [b.x for b in bands if len(b.x)] + \
        ([np.asarray(x_span, float)] if len(x_span) else [])
    if xs:
        x_lo = float(min(np.min(x) for x in xs))
        x_hi = float(max(np.max(x) for x in xs))
    else:
        x_lo, x_hi = 0.0, 1.0
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    y_lo, y_hi = y_range
    cv = Canvas(plot_w, plot_h)
    pw, ph = cv.px

    def to_px(x: float, y: float) -> tuple[float, float]:
        return ((x - x_lo) / (x_hi - x_lo) * (pw - 1),
                (1 - (min(max(y, y_lo), y_hi) - y_lo) / (y_hi - y_lo)) * (ph - 1))

    def to_row(y: float) -> int:
        return int(to_px(x_lo, y)[1] // 4)

    for b in bands:
        xs_cells = np.arange(plot_w)
        xv = x_lo + (xs_cells * 2 + 1) / max(1, pw - 1) * (x_hi - x_lo)
        ok = np.isfinite(b.lo) & np.isfinite(b.hi)
        if ok.sum() == 0:
            continue
        lo = np.interp(xv, b.x[ok], b.lo[ok], left=np.nan, right=np.nan)
        hi = np.interp(xv, b.x[ok], b.hi[ok], left=np.nan, right=np.nan)
        for c in xs_cells:
            if np.isfinite(lo[c]) and np.isfinite(hi[c]) and xv[c] <= b.x[ok].max() + 1e-9:
                cv.shade(int(c), to_row(hi[c]), to_row(lo[c]), _dim(b.colour, 0.28))
    for s in series:
        ok = np.isfinite(s.y)
        x, y = np.asarray(s.x, float)[ok], np.asarray(s.y, float)[ok]
        if len(x) == 1:
            px, py = to_px(x[0], y[0])
            cv.dot(int(round(px)), int(round(py)), s.colour)
        for i in range(len(x) - 1):
            cv.line(*to_px(x[i], y[i]), *to_px(x[i + 1], y[i + 1]), s.colour, dotted=s.dotted)
    if marker_x is not None:
        # after the curves, in the cells they leave empty: drawn first, its "┊" hid the curve's
        # dots in the cells they later shared (the first and last checkpoints' columns)
        mx = int(to_px(marker_x, y_lo)[0] // 2)
        for r in range(plot_h):
            if cv.bits[r, mx] == 0 and (r, mx) not in cv.char:
                cv.put(mx, r, "┊", "#777777")       # dashed: at the right edge "│" read as a frame
    rows = cv.lines()
    out = []
    ticks = {0: y_hi, plot_h - 1: y_lo, (plot_h - 1) // 2: (y_lo + y_hi) / 2}
    for r, t in enumerate(rows):
        lab = f"{ticks[r]:4.1f}┤" if r in ticks else "    │"
        line = Text(lab, style="dim")
        line.append_text(t)
        out.append(line)
    axis = Text(" " * (ylab_w - 1) + "└" + "─" * plot_w, style="dim")
    out.append(axis)
    lo_s, hi_s = epoch_text(x_lo), f"{epoch_text(x_hi)} {x_label}"     # as the status line and the CLI
    gap = max(1, plot_w - len(lo_s) - len(hi_s) + 1)
    out.append(Text(" " * ylab_w + lo_s + " " * gap + hi_s, style="dim"))
    return out[:height] if height >= 3 else out


def scatter(x: np.ndarray, y: np.ndarray, width: int, height: int, colour: str = "#4fc3f7",
            x_label: str = "") -> list[Text]:
    """Braille scatter of points on [0, 1]^2 with the diagonal y = x drawn dim."""
    plot_w, plot_h = max(4, width - 6), max(2, height - 2)
    cv = Canvas(plot_w, plot_h)
    pw, ph = cv.px
    cv.line(0, ph - 1, pw - 1, 0, "#555555", dotted=True)
    ok = np.isfinite(x) & np.isfinite(y)
    px = np.clip(np.round(np.asarray(x)[ok] * (pw - 1)), 0, pw - 1).astype(int)
    py = np.clip(np.round((1 - np.asarray(y)[ok]) * (ph - 1)), 0, ph - 1).astype(int)
    for a, b in set(zip(px.tolist(), py.tolist())):
        cv.dot(a, b, colour)
    out = []
    for r, t in enumerate(cv.lines()):
        lab = " 1.0┤" if r == 0 else " 0.0┤" if r == plot_h - 1 else "    │"
        line = Text(lab, style="dim")
        line.append_text(t)
        out.append(line)
    out.append(Text("    └" + "─" * plot_w, style="dim"))
    tail = f"1.0  {x_label}"
    out.append(Text("     0.0" + " " * max(1, plot_w - 3 - len(tail)) + tail, style="dim"))
    return out


# ------------------------------------------------------------------ matrices

def _matrix_labels(row_labels: Sequence[str], col_labels: Sequence[str] | None, n_c: int
                   ) -> tuple[list[str], list[str], int]:
    """Row labels, column labels and the row labels' width of a matrix."""
    row_labels, col_labels = list(row_labels), None if col_labels is None else list(col_labels)
    if col_labels is None or max((len(c) for c in col_labels), default=0) > 4:
        # Long names do not fit over a cell: number the columns, and the rows to match.
        width_n = len(str(len(row_labels)))
        row_labels = [f"{lab} {i + 1:>{width_n}}" for i, lab in enumerate(row_labels)]
        col_labels = [str(j + 1) for j in range(n_c)]
    return row_labels, col_labels, min(max((len(s) for s in row_labels), default=1), 20)


def matrix_width(row_labels: Sequence[str], col_labels: Sequence[str] | None) -> int:
    """The width :func:`matrix` needs to write every cell's value (4 columns a cell)."""
    n_c = len(row_labels) if col_labels is None else len(col_labels)
    return _matrix_labels(row_labels, col_labels, n_c)[2] + 1 + 4 * n_c


def matrix(values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str] | None, width: int,
           *, lo: float = 0.0, hi: float = 1.0, row_colours: Sequence[str] | None = None,
           max_rows: int | None = None) -> tuple[list, str]:
    """Coloured cells, with their values when a cell gets 4 columns or more (three decimals from 6
    columns: late in training agreement sits between .97 and .99, where two decimals tell little),
    else colour only.

    Returns the lines (header ``Text`` lines, then one list of segments per row: a large matrix has
    thousands of cells, and segments skip rich's span bookkeeping) and a note (empty, or what
    was left out to fit).
    """
    values = np.asarray(values, float)
    n_r, n_c = values.shape
    note = ""
    row_labels, col_labels, lab_w = _matrix_labels(row_labels, col_labels, n_c)
    room = max(1, width - lab_w - 1)
    cell = next((c for c in (6, 5, 4, 3, 2) if room >= c * n_c), 1)
    shown_c = min(n_c, room // cell)
    cl = list(col_labels)
    # Column numbers wider than their cells (network 10 and on in a 1- or 2-column cell) are
    # written downwards, a digit a line: cut to their first digit, 10 to 19 all read "1".
    longest = max((len(cl[j]) for j in range(shown_c)), default=1)
    down = longest > max(1, cell - 1) and longest <= 3 and cell <= 2
    head_lines = longest if down else 1
    shown_r = n_r if max_rows is None else min(n_r, max(1, max_rows - (head_lines - 1)))
    if shown_c < n_c or shown_r < n_r:
        note = f"{shown_r}×{shown_c} of {n_r}×{n_c} shown; enlarge for more"      # short: a panel of 40 columns
    out: list = []
    for line in range(head_lines):
        head = Text(" " * (lab_w + 1))
        for j in range(shown_c):
            label = cl[j].rjust(longest)[line] if down else cl[j][:max(1, cell - 1)]
            head.append(label.center(cell)[:cell], style="dim")
        out.append(head)
    dim = Style(dim=True)
    blank = "·".center(cell)
    for i in range(shown_r):
        lab = row_labels[i]       # too long: keep the end, which tells networks apart, and say it is cut
        lab = (lab if len(lab) <= lab_w else "…" + lab[len(lab) - lab_w + 1:]).rjust(lab_w)
        row = [Segment(lab + " ", Style(color=row_colours[i]) if row_colours and row_colours[i] else dim)]
        for v in values[i, :shown_c].tolist():
            if not math.isfinite(v):
                row.append(Segment(blank, dim))
                continue
            txt = _cell_text(v, 3 if cell >= 6 else 2) if cell >= 4 else ""
            row.append(Segment(txt.center(cell)[:cell], _cell_style(cmap(v, lo, hi))))
        out.append(row)
    return out, note


def _cell_text(v: float, digits: int = 2) -> str:
    """A matrix value in 4 characters (``digits`` 2: ".83", "-.04") or 5 (3: ".987"). 1.0 only for
    agreement that is whole (0.995 rounded to it read as all networks alike); a value that rounds
    to zero has no sign ("-0.0" read as a negative correlation)."""
    if v >= 1 - 1e-9:
        return "1.0"
    if v <= -1 + 1e-9:
        return "-1.0"
    cap = 1 - 10 ** -digits
    text = unsigned_zero(f"{max(min(v, cap), -cap):.{digits}f}")
    return text.replace("0.", ".", 1)


@lru_cache(maxsize=256)
def _cell_style(rgb: tuple[int, int, int]) -> Style:
    return Style(color=_ink(rgb), bgcolor=_hex(rgb))


def legend(width: int, lo: float = 0.0, hi: float = 1.0, label: str = "TPA") -> Text:
    """A colour bar from ``lo`` to ``hi``."""
    bar = max(4, min(30, width - len(label) - 14))
    t = Text(f"{label} {lo:.2g} ", style="dim")
    for i in range(bar):
        t.append(" ", style=Style(bgcolor=_hex(cmap(lo + (hi - lo) * i / (bar - 1), lo, hi))))
    t.append(f" {hi:.2g}", style="dim")
    return t


# ------------------------------------------------------------------ histogram

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def histogram(observed: np.ndarray, independent: np.ndarray, width: int, height: int,
              colours: tuple[str, str] = ("#4fc3f7", "#ffb74d")) -> list[Text]:
    """Side-by-side vertical bars per correct count k: observed (left) and independence (right).

    Values are fractions of examples. Counts are merged into bins when there are too many to fit.
    """
    obs = np.asarray(observed, float)
    ind = np.asarray(independent, float)
    n1 = len(obs)
    ylab_w = 6
    plot_w = max(3, width - ylab_w)
    n_bins = min(n1, max(1, plot_w // 3))
    bw = max(1, min(8, (plot_w // n_bins - 1) // 2))        # cells per bar
    per = 2 * bw + 1
    edges = np.linspace(0, n1, n_bins + 1).round().astype(int)
    ob = np.array([obs[a:b].sum() for a, b in zip(edges[:-1], edges[1:])])
    ib = np.array([ind[a:b].sum() for a, b in zip(edges[:-1], edges[1:])])
    top = max(float(ob.max(initial=0)), float(ib.max(initial=0)), 1e-9)
    plot_h = max(2, height - 2)
    rows: list[Text] = []
    for r in range(plot_h):
        level = plot_h - r - 1                         # cells below this row
        lab = f"{top:5.2f}┤" if r == 0 else f"{top / 2:5.2f}┤" if r == plot_h // 2 else "     │"
        t = Text(lab, style="dim")
        for b in range(n_bins):
            for v, colour in ((ob[b], colours[0]), (ib[b], colours[1])):
                h = v / top * plot_h
                fill = min(8, max(0, int(round((h - level) * 8))))
                t.append(_EIGHTHS[fill] * bw, style=Style(color=colour))
            t.append(" ")
        rows.append(t)
    rows.append(Text("     └" + "─" * (n_bins * per), style="dim"))
    lab = Text("      ", style="dim")
    if n_bins == n1 and per >= 3:
        # One bin per count: label each (or every other when the numbers get wide).
        every = 1 if per >= len(str(n1 - 1)) + 1 else 2
        for b in range(n_bins):
            lab.append((str(b) if b % every == 0 else "").center(per - 1) + " ", style="dim")
    else:
        first, last = "0", f"{n1 - 1}"
        lab.append(first + " " * max(1, n_bins * per - len(first) - len(last)) + last, style="dim")
    rows.append(lab)
    return rows


# ------------------------------------------------------------------ images

def resize_nearest(img: np.ndarray, height: int, width: int) -> np.ndarray:
    ys = (np.arange(height) * img.shape[0] / height).astype(int)
    xs = (np.arange(width) * img.shape[1] / width).astype(int)
    return img[ys][:, xs]


@lru_cache(maxsize=65536)
def _half_block_style(top: int, bottom: int) -> Style:
    return Style(color=f"#{top:06x}", bgcolor=f"#{bottom:06x}")


def image_lines(img: np.ndarray, width: int) -> list[Text]:
    """An image as half-block characters: each cell shows two pixels (top in the foreground
    colour of ``▀``, bottom in the background), ``width`` cells wide, aspect kept."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        m = float(a.max()) or 1.0
        a = np.clip(a / m * 255, 0, 255).astype(np.uint8)
    h = max(2, int(round(a.shape[0] * width / a.shape[1])))
    h += h % 2
    a = resize_nearest(a, h, width).astype(np.int64)
    rgb = (a[:, :, 0] << 16) | (a[:, :, 1] << 8) | a[:, :, 2]          # one int per pixel
    out = []
    for r in range(0, h, 2):
        t = Text("▀" * width)
        for c, (top, bot) in enumerate(zip(rgb[r].tolist(), rgb[r + 1].tolist())):
            t.stylize(_half_block_style(top, bot), c, c + 1)
        out.append(t)
    return out


# a horizontal bar's last cell, filled from the left (the histogram's _EIGHTHS fill from the
# bottom: a progress bar read "█▄")
_LEFT_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A progress bar of ``width`` cells with eighth-block resolution."""
    f = min(1.0, max(0.0, fraction)) * width
    full = int(f)
    part = int(round((f - full) * 8))
    s = "█" * full + (_LEFT_EIGHTHS[part] if full < width and part else "")
    return s + " " * (width - len(s))
