"""The easiest and hardest examples (by accessibility, per class), drawn in the terminal from the
study's thumbnails, with their label, accessibility and learned-at epoch per architecture."""
from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from orderlab.analysis.metrics import cut_tie
from orderlab.analysis.summary import tie_sentence
from orderlab.app.views.base import View
from orderlab.app.widgets.drawing import Drawing
from orderlab.app.widgets.render import arch_colour, image_lines, line_room, pack_segments
from orderlab.errors import epoch_text

IMAGE_CELLS = 16          # the widest an image is drawn (cells; each cell is one pixel wide, two high)
TEXT_CARD = 36


def image_width(w: int) -> int:
    """Whole-number scaling keeps small images crisp: 8 px -> 16 cells, 28 -> 14, 32 -> 16."""
    if w <= IMAGE_CELLS:
        return w * max(1, IMAGE_CELLS // w)
    return int(np.ceil(w / np.ceil(w / IMAGE_CELLS)))


def pad(t: Text, width: int) -> Text:
    t = t.copy()
    t.truncate(width, pad=True)
    return t


def share_text(v: float) -> str:
    """A share (accessibility) in two decimals that reads 1.00 or 0.00 only when it is: 0.998 read
    "1.00" beside the examples right at every checkpoint, and the note on ties counted fewer."""
    if not 0 < v < 1:                   # (NaN too: not a share that looks like one)
        return f"{v:.2f}"
    return f"{min(0.99, max(0.01, round(v, 2))):.2f}"


class ExampleCards:
    """Pictures and facts of the chosen examples, laid out as cards in rows."""

    def __init__(self, data: Any, picks: np.ndarray):
        self.data = data
        self.picks = picks
        ex = data.examples
        self.kind = ex["kind"] if ex else ""
        self.class_names = ex["class_names"] if ex else []
        split = (ex or {}).get("splits", {}).get(data.split) if ex else None
        self.thumbs = split
        self._lines: dict[int, list[Text]] = {}
        self.row_of: dict[int, int] = {}
        if split is not None:
            self.row_of = {int(e): i for i, e in enumerate(split["example_id"])}

    def class_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def card(self, i: int, width: int, labels: dict[str, str]) -> list[Text]:
        """Example ``i``'s card, its architectures' lines starting with ``labels`` (:meth:`labels`)."""
        d, an = self.data, self.data.analysis
        eid, label = int(d.stack.example_id[i]), int(d.stack.label[i])
        out: list[Text] = []
        row = self.row_of.get(eid)
        if self.thumbs is not None and row is not None and "image" in self.thumbs:
            img = self.thumbs["image"][row]
            out += image_lines(img, image_width(img.shape[1]))
        elif self.thumbs is not None and row is not None and "text" in self.thumbs:
            for line in textwrap.wrap(str(self.thumbs["text"][row]), width)[:5]:
                out.append(Text(line, style="italic"))
        else:
            out.append(Text("(no picture)", style="dim"))
        out.append(Text(f"#{eid} {self.class_name(label)}", style="bold"))
        out.append(Text(f"access {share_text(an.access_all[i])}", style="dim"))
        for k, arch in enumerate(an.archs):
            t = Text(f"{labels[arch]} ", style=arch_colour(k))
            t.append(self.value(arch, i))
            out.append(t)
        return out

    def value(self, arch: str, i: int) -> str:
        """An architecture's accessibility of example ``i`` and when it is learned for good."""
        an = self.data.analysis
        la = an.learned_at[arch][i]
        return f"{share_text(an.accessibility[arch][i])} " + ("never" if not np.isfinite(la) else f"@{epoch_text(la)}")

    def labels(self, width: int) -> dict[str, str]:
        """What each architecture's line on a card of ``width`` starts with: its name where every
        name fits beside every value, else its number (:meth:`numbered`). Cut to the room left,
        compared studies' names read "slow:c" and "other:" for both of other's architectures, and
        their values lost digits ("@0.25" for 0.256)."""
        archs = self.data.analysis.archs
        longest = max((len(self.value(a, int(i))) for a in archs for i in self.picks), default=0)
        if max(len(a) for a in archs) + 1 + longest <= width:
            return {a: a for a in archs}
        return {a: str(k + 1) for k, a in enumerate(archs)}

    def numbered(self) -> bool:
        """Whether the cards number the architectures (the status line then says which is which)."""
        card_w = TEXT_CARD if self.kind == "text" else IMAGE_CELLS + 1
        return any(label != a for a, label in self.labels(card_w).items())

    def lines(self, width: int) -> list[Text]:
        if width not in self._lines:
            self._lines[width] = self._layout(width)
        return self._lines[width]

    def _layout(self, width: int) -> list[Text]:
        card_w = TEXT_CARD if self.kind == "text" else IMAGE_CELLS + 1
        cols = max(1, (width + 1) // (card_w + 1))
        labels = self.labels(card_w)             # one rule for every card of the grid
        cards = [self.card(int(i), card_w, labels) for i in self.picks]
        out: list[Text] = []
        for r in range(0, len(cards), cols):
            row = cards[r:r + cols]
            height = max(len(c) for c in row)
            for y in range(height):
                t = Text()
                for c in row:
                    t.append_text(pad(c[y] if y < len(c) else Text(""), card_w))
                    t.append(" ")
                out.append(t)
            out.append(Text(""))
        return out


class ExamplesView(View):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hardest = False
        self.klass: int | None = None        # None: all classes
        self.count = 12
        self._data: Any = None

    def compose(self):
        yield Static("", id="ex-status")
        with VerticalScroll(id="ex-scroll"):
            yield Drawing(id="ex-cards", placeholder="waiting for checkpoints…")

    def show_data(self, data: Any, changed: bool) -> None:
        self._data = data
        if changed or data.analysis is None:
            self._redraw()

    def relayout(self) -> None:
        if self._data is not None:
            self._redraw()

    def class_labels(self) -> list[int]:
        return sorted(int(c) for c in np.unique(self._data.stack.label))

    def action_toggle_mode(self) -> None:
        self.hardest = not self.hardest
        self._redraw()

    def action_next_class(self) -> None:
        if self._data is None or self._data.stack is None:
            return
        cl = self.class_labels()
        if self.klass is None:
            self.klass = cl[0]
        else:
            i = cl.index(self.klass) if self.klass in cl else -1
            self.klass = cl[i + 1] if i + 1 < len(cl) else None
        self._redraw()

    def picks(self) -> tuple[np.ndarray, str, str]:
        """Indices into the stack's examples, a note on what they were chosen among, and one when
        the last shown ties with more examples than are shown (the split's order picks those)."""
        d = self._data
        access = np.asarray(d.analysis.access_all, float)
        cand = np.arange(d.stack.n_examples)
        if self.klass is not None:
            cand = cand[d.stack.label[cand] == self.klass]
        note = ""
        split = (d.examples or {}).get("splits", {}).get(d.split) if d.examples else None
        if split is not None:
            have = np.isin(d.stack.example_id[cand], split["example_id"])
            if have.any() and not have.all():
                note = f" (among the {int(have.sum())} with pictures)"
                cand = cand[have]
        # Stable sort on (accessibility, index): ties keep a reproducible order.
        key = access[cand] if self.hardest else -access[cand]
        ordered = cand[np.argsort(key, kind="stable")]
        cut = cut_tie(access[ordered], self.count)
        tie = tie_sentence(cut, "hardest" if self.hardest else "easiest", digits=2) if cut else ""
        return ordered[:self.count], note, tie

    def _redraw(self) -> None:
        d = self._data
        cards = self.query_one("#ex-cards", Drawing)
        status = self.query_one("#ex-status", Static)
        if d is None or d.analysis is None:
            cards.set_draw(None, (d.problem if d is not None else None) or "waiting for checkpoints…")
            status.update("")
            return
        picks, note, tie = self.picks()
        view = ExampleCards(d, picks)
        cards.set_draw(lambda w, h: view.lines(w))
        t = Text()
        t.append("hardest" if self.hardest else "easiest", style="bold")
        cname = "all classes" if self.klass is None else f"class {view.class_name(self.klass)}"
        t.append(f" {len(picks)} · {cname} · {d.split} split{note}")
        t.append("   e: easiest/hardest · k: next class", style="dim")
        if not d.examples:
            t.append("\nthis study has no pictures of its examples (the trainer stores them when the "
                     "study is created)", style="yellow")
        if tie:
            t.append("\n" + tie, style="yellow")
        unit = d.stack.unit if d.stack is not None else "epoch"
        t.append(f"\nper architecture: accessibility @ the {unit} it is learned for good", style="dim")
        if view.numbered():             # which number is which, a line broken between entries
            t.append("\n")
            t.append_text(pack_segments([Text(f"{k + 1} {a}", style=arch_colour(k))
                                         for k, a in enumerate(d.analysis.archs)], line_room(self), sep="  "))
        status.update(t)
