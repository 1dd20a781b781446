"""Matplotlib figures of the agreement analysis (object API with the Agg canvas: no pyplot state,
safe in worker threads, no display needed). Each ``fig_*`` returns a Figure; :func:`save`
writes it as PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from orderlab.analysis import metrics as M
from orderlab.analysis.stack import Stack

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22"]


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight", pad_inches=0.12)
    return path


def fig_tpa(stack: Stack, curves: dict[str, dict]) -> Figure:
    """TPA (with its interval) and independent TPA over training per architecture; accuracy beside."""
    fig = _figure(11, 4.2)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    # a few checkpoints (networks on other grids share little more than the untrained one): points,
    # which a line through one point would not draw
    mk = {"marker": "o", "ms": 4} if stack.n_checkpoints <= 3 else {}
    banded = False
    for i, (arch, cur) in enumerate(curves.items()):
        c = colour(i)
        # each architecture at its own positions (another batch size records a checkpoint apart)
        x = stack.own_positions(stack.arch_index(arch))[0] if arch in stack.archs else stack.epoch
        if cur["n"] == 1:       # TPA and its independent value are 1 by construction: no finding to draw
            ax.plot(x, cur["tpa"], color=c, lw=1, ls=":", label=f"{arch}: 1 network, TPA 1 by construction", **mk)
            ax2.plot(x, cur["accuracy"], color=c, lw=2, label=arch, **mk)
            continue
        ax.plot(x, cur["tpa"], color=c, lw=2, label=f"{arch} TPA ({cur['n']} nets)", **mk)
        lo, hi = np.asarray(cur["tpa_lo"], float), np.asarray(cur["tpa_hi"], float)
        # a band wherever it has a width: TPA 0 with an interval up to 0.57 had looked certain
        banded = banded or bool(np.any(np.isfinite(hi - lo)))
        if np.any(np.isfinite(hi - lo)) and not np.allclose(lo, hi, equal_nan=True):
            ax.fill_between(x, lo, hi, color=c, alpha=0.2, lw=0)
        ax.plot(x, cur["tpa_independent"], color=c, lw=1.5, ls="--", label=f"{arch} if independent", **mk)
        ax2.plot(x, cur["accuracy"], color=c, lw=2, label=arch, **mk)
    ax.set(xlabel=stack.unit, ylabel="true-positive agreement", ylim=(0, 1.02),
           # the band's meaning where one is drawn; the jackknife needs 3 networks (2 drew none, and the
           # title had named a band)
           title=f"TPA over training ({stack.split} split; "
                 + ("band: 95% interval over networks)" if banded else "intervals need 3 networks or more)"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax2.set(xlabel=stack.unit, ylabel="mean accuracy", ylim=(0, 1.02), title="accuracy")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8, loc="lower right")
    # the figure travels alone (an MLflow artifact): where the curves stop before some architecture's
    # training did, it says so under them, as report.md does
    from orderlab.analysis.stack import SHORT_OF_END
    short = [w for w in stack.warnings if w.startswith(SHORT_OF_END) or f": {SHORT_OF_END}" in w]
    if short:
        import textwrap
        fig.supxlabel(textwrap.fill("note: " + short[0], 150), fontsize=8, ha="left", x=0.01, color="dimgrey")
    return fig


def fig_histograms(stack: Stack, checkpoints: dict[str, int], max_groups: int = 12,
                   per_arch: dict[str, dict[str, int]] | None = None) -> Figure:
    """Correct-count histograms (share of examples right for exactly k networks) at the chosen
    checkpoints, per architecture (a row each, up to ``max_groups``: beyond, the figure says how
    many it leaves out), against the independence (Poisson-binomial) histogram. ``per_arch``: an
    architecture's own checkpoints in place of ``checkpoints`` (the report's own mid-training point
    of each: boosting's panel read "middle" at round 1 while the report's table took round 6)."""
    groups = [(a, stack.arch_index(a)) for a in stack.archs[:max_groups]]

    def columns(picks: dict[str, int]) -> list[tuple[str, int]]:
        # Checkpoints that coincide (a fast learner passes a third and two thirds of the way at
        # once) share one column.
        merged: dict[int, list[str]] = {}
        for name, e in picks.items():
            # aligned on the checkpoints all share, the last of them may be short of some network's end
            if name == "final" and stack.cut_short:
                name = "last shared"
            merged.setdefault(int(e), []).append(name)
        return [(" = ".join(names), e) for e, names in merged.items()]
    rows = [columns((per_arch or {}).get(arch, checkpoints)) for arch, _ in groups]
    from orderlab.analysis.summary import identical_at
    same = {arch: identical_at(stack, idx) for arch, idx in groups}   # (k-NN: the seed changes nothing)
    n_cols = max(len(cols) for cols in rows)
    fig = _figure(3.6 * n_cols, 2.7 * len(groups) + 0.4)
    axes = np.atleast_2d(fig.subplots(len(groups), n_cols, squeeze=False))
    for r, (arch, idx) in enumerate(groups):
        for c in range(len(rows[r]), n_cols):
            axes[r, c].axis("off")              # this architecture's checkpoints coincide more
        for c, (name, e) in enumerate(rows[r]):
            ax = axes[r, c]
            b = M.bimodality(stack, e, idx)
            obs, exp = b["observed"], b["expected"]
            k = np.arange(obs.size)
            total = max(1, obs.sum())
            ax.bar(k, obs / total, color=colour(r), alpha=0.75, label="observed")
            ax.plot(k, exp / max(1e-12, exp.sum()), "o-", color="black", ms=3, lw=1, label="independent")
            acc = M.accuracy(stack, e, idx).mean()
            # one network's histogram is its accuracy in two bars: no agreement to measure
            # identical networks' two bars hold by construction: said here too (only the text said it)
            measures = ("1 network: no agreement to measure" if idx.size == 1
                        else "identical networks: two bars by construction" if same[arch][e]
                        else f"TV {b['tv']:.2f}, Sarle {b['sarle']:.2f}")
            # its own unit and position (a learner's stage beside networks' epochs; another batch size)
            ax.set_title(f"{arch}, {name}: {stack.at_of(e, idx)} (acc {acc:.2f})\n{measures}", fontsize=9)
            ax.set_xlabel(f"networks right (of {idx.size})", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # counts: no 0.5 of a network
            if c == 0:
                ax.set_ylabel("share of examples", fontsize=8)
            ax.tick_params(labelsize=7)
            if r == 0 and c == 0:
                ax.legend(fontsize=7)
    if len(stack.archs) > len(groups):
        fig.suptitle(f"the first {len(groups)} of {len(stack.archs)} architectures (every one in "
                     f"`orderlab analyze` and the JSON)", fontsize=10)
    return fig


def _annotated_heatmap(ax, mat: np.ndarray, labels: Sequence[str], vmin=0.0, vmax=1.0,
                       blank: dict[tuple[int, int], str] | None = None):
    """``blank``: what to write in cells without a value, where "–" would not say why."""
    im = ax.imshow(mat, cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    if len(labels) <= 12:
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                v = mat[i, j]
                text = (blank or {}).get((i, j), "–") if not np.isfinite(v) else f"{v:.3f}"
                # an empty cell is drawn blank (white): its text in grey, white was invisible there
                ink = "dimgrey" if not np.isfinite(v) else "black" if v > (vmin + vmax) / 2 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=9 if len(labels) <= 6 else 7, color=ink)
    return im


def fig_arch_agreement(archs: list[str], mat: np.ndarray, stack: Stack, checkpoint: int) -> Figure:
    s = max(3.8, 0.9 * len(archs) + 2.4)
    fig = _figure(s + 0.8, s)
    ax = fig.subplots()
    m = np.asarray(mat, float)
    # Start the colour scale just below the data: agreement late in training sits near 1.
    low = float(np.nanmin(m)) if np.any(np.isfinite(m)) else 0.0
    # an architecture of one network has no distinct pair within: its diagonal says so
    single = {(i, i): "1 network" for i, a in enumerate(archs) if stack.arch_index(a).size == 1}
    im = _annotated_heatmap(ax, m, archs, vmin=max(0.0, min(low - 0.02, 0.98)), vmax=1.0, blank=single)
    fig.colorbar(im, ax=ax, shrink=0.8, label="mean pairwise TPA")
    # an architecture whose networks are identical there reads 1 on the diagonal by construction
    from orderlab.analysis.summary import identical_groups
    same = identical_groups(stack, checkpoint)
    ax.set_title(f"architecture agreement, {stack.at(checkpoint)}\n(diagonal: distinct pairs within"
                 + (f"; {', '.join(same)}: identical networks, 1 by construction" if same else "") + ")",
                 fontsize=10, wrap=True)
    return fig


SEED_TICKS_UP_TO = 32      # networks in the agreement figure named one by one (more: by architecture)


def fig_network_agreement(stack: Stack, checkpoint: int, measure: str = "tpa") -> Figure:
    """Network x network agreement, ordered by architecture then seed, blocks outlined."""
    order = np.concatenate([stack.arch_index(a)[np.argsort(stack.seed[stack.arch_index(a)], kind="stable")]
                            for a in stack.archs])
    p = np.array(M.pairwise_agreement(stack, checkpoint, measure, order), float)
    fig = _figure(6.6, 5.6)
    ax = fig.subplots()
    # A network with itself (always 1) is left grey: it would pin the top of the colour scale above
    # every real pair, and the blocks of one architecture would fade.
    np.fill_diagonal(p, np.nan)
    off = p[np.isfinite(p)]
    vmin, vmax = (float(off.min()), float(off.max())) if off.size else (0.0, 1.0)
    if vmax - vmin < 0.01:      # nearly constant (identical networks: all 1): a narrow scale inside the range
        low = 0.0 if measure == "tpa" else -1.0                     # κ goes down to -1
        vmin, vmax = max(low, min(vmin - 0.005, 0.99)), min(1.0, max(vmax + 0.005, low + 0.01))
    cmap = colormaps["viridis"].with_extremes(bad="#d0d0d0")
    im = ax.imshow(p, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label=f"pairwise {measure.upper() if measure == 'tpa' else 'κ'} "
                 f"(grey: a network with itself)")
    bounds = np.cumsum([len(stack.arch_index(a)) for a in stack.archs])
    starts = np.concatenate(([0], bounds[:-1]))
    for b in bounds[:-1]:
        ax.axhline(b - 0.5, color="white", lw=1.5)
        ax.axvline(b - 0.5, color="white", lw=1.5)
    if len(order) <= SEED_TICKS_UP_TO:      # every network named: its architecture and seed
        names = [f"{stack.arch[i]} s{stack.seed[i]}" for i in order]
        size = 8 if len(order) <= 12 else 6
        ax.set_xticks(np.arange(len(order)), names, rotation=90, fontsize=size)
        ax.set_yticks(np.arange(len(order)), names, fontsize=size)
    else:                                   # too many to read: the architectures' blocks
        centres = (starts + bounds - 1) / 2
        ax.set_xticks(centres, stack.archs, rotation=45, ha="right")
        ax.set_yticks(centres, stack.archs)
    ax.set_title(f"network agreement ({stack.n_networks} networks), {stack.at(checkpoint)}",
                 fontsize=10)
    return fig


def fig_accessibility(stack: Stack, max_pairs: int = 6) -> Figure:
    """Accessibility of one architecture against another (one panel per pair, three to a row);
    with a single architecture, one half of its networks against the other half. Every pair when
    there are at most ``max_pairs``, else a chain (each architecture beside the next) so that every
    architecture is drawn, up to ``max_pairs`` panels; the figure says which."""
    archs = stack.archs
    if stack.n_networks == 1:
        return _one_network_accessibility(stack)
    shown = ""
    if len(archs) > 1:
        every = [(archs[i], archs[j]) for i in range(len(archs)) for j in range(i + 1, len(archs))]
        pairs = every if len(every) <= max_pairs else list(zip(archs[:-1], archs[1:]))[:max_pairs]
        if len(pairs) < len(every):
            covered = len({a for p in pairs for a in p})
            shown = (f"{len(pairs)} of {len(every)} pairs, each architecture beside the next"
                     + (f" ({covered} of {len(archs)} architectures)" if covered < len(archs) else "")
                     + "; every pair is in the order table")
        sets = [(a, stack.arch_index(a), b, stack.arch_index(b)) for a, b in pairs]
    else:
        idx = stack.arch_index(archs[0])
        h = idx.size // 2
        sets = [(f"{archs[0]} (half 1)", idx[:h], f"{archs[0]} (half 2)", idx[h:])]
    # The tables compare half-groups averaged over splits; a scatter shows one comparison, which its
    # title names, so that its numbers are not read as the table's.
    which = "whole groups" if len(archs) > 1 else "one split"
    cols = min(3, len(sets))
    rows = -(-len(sets) // cols)
    fig = _figure(4.4 * cols, 4.3 * rows + (0.3 if shown else 0))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(sets):]:
        ax.set_visible(False)
    if shown:
        fig.suptitle(shown, fontsize=10)
    # Accessibility takes few values (multiples of 1 / networks x checkpoints) and many examples
    # share one (on digits 30% sit at (1, 1)): each point is drawn once, coloured by how many
    # examples it holds (one scale for every panel), inside limits that do not cut the points at
    # 0 and 1 in half. Many distinct points (large studies): hexagonal bins on that scale.
    drawn = []
    for a, ia, b, ib in sets:
        xa, xb = M.accessibility(stack, ia), M.accessibility(stack, ib)
        pts, counts = np.unique(np.c_[xa, xb], axis=0, return_counts=True)
        drawn.append((xa, xb, pts, counts, M.group_order_correlation(stack, ia, ib)))
    norm = LogNorm(1, 2)            # shared; its top is set once every panel is drawn
    mappables, binned = [], False
    for ax, (a, ia, b, ib), (xa, xb, pts, counts, r) in zip(axes, sets, drawn):
        if pts.shape[0] > 3000:
            binned = True
            mappables.append(ax.hexbin(xa, xb, gridsize=40, norm=norm, cmap="viridis", mincnt=1,
                                       extent=(0, 1, 0, 1)))
        elif pts.shape[0]:
            mappables.append(ax.scatter(pts[:, 0], pts[:, 1], c=counts, s=14, cmap="viridis", norm=norm, lw=0))
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
        ax.set(xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), xlabel=f"accessibility, {a}", ylabel=f"accessibility, {b}")
        ax.set_aspect("equal")
        # two lines: one would run under the colorbar beside a panel 4.4 inches wide
        ax.set_title(f"{which}: Spearman ρ {r['spearman']:.2f}\nfirst-20% overlap {r['overlap']:.2f}", fontsize=9)
    if mappables:
        norm.vmax = max(2.0, *(float(np.max(m.get_array())) for m in mappables))
        bar = fig.colorbar(mappables[0], ax=list(axes[:len(sets)]), shrink=0.8,
                           label=f"examples {'per bin' if binned else 'at the point'} (log)")
        # counts written plainly (not 6×10⁰), at 1, 2, 5, 10, 20, 50 …: every minor tick labelled
        # ran the labels into each other once the scale passed 10
        bar.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return fig


def _one_network_accessibility(stack: Stack) -> Figure:
    """A single network has no second group to set its order against (the scatter would be the
    network against itself, a perfect agreement by construction): how its examples' accessibility
    spreads instead."""
    fig = _figure(5.2, 4.0)
    ax = fig.subplots()
    acc = M.accessibility(stack)
    ax.hist(acc, bins=np.linspace(0, 1, 21), color=colour(0), alpha=0.8)
    ax.set(xlim=(0, 1), xlabel=f"accessibility, {stack.archs[0]}", ylabel="examples")
    ax.set_title("1 network: no second group to compare its order with\n"
                 "its examples' accessibility (train more seeds to compare)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def example_classes(stack: Stack, example_ids, max_classes: int = 10) -> list[int]:
    """The classes the example grid draws: those with a thumbnail among ``example_ids``, at most
    ``max_classes`` of them, lowest first."""
    have = np.isin(stack.example_id, np.asarray(example_ids))
    return [int(c) for c in np.unique(stack.label[have])][:max_classes]


def fig_examples(stack: Stack, thumbs: dict, class_names: Sequence[str], k: int = 5, max_classes: int = 10
                 ) -> Figure | None:
    """The ``k`` easiest and ``k`` hardest examples of each class (rows), among examples that have
    thumbnails; the number under each is its accessibility. None when there is nothing to show.

    Drawn as one mosaic image (one axes): a grid of 100+ axes takes seconds to lay out.
    """
    ids = np.asarray(thumbs["example_id"])
    images = np.asarray(thumbs["image"])
    if images.ndim == 3:
        images = images[..., None]
    row_of = {int(e): i for i, e in enumerate(ids)}
    have = np.array([int(e) in row_of for e in stack.example_id])
    if not have.any():
        return None
    acc = M.accessibility(stack)
    classes = example_classes(stack, ids, max_classes)
    h, w = images.shape[1:3]
    pad_y, pad_x = max(2, h // 2), max(1, w // 6)
    cell_h, cell_w = h + pad_y, w + pad_x
    cols = 2 * k + 1                                     # k easiest, a gap, k hardest
    mosaic = np.full((len(classes) * cell_h, cols * cell_w, 3), 255, np.uint8)
    labels = []
    cut_ties = 0        # rows whose easiest or hardest k are some of more examples tied there
    for r, cls in enumerate(classes):
        cand = np.flatnonzero(have & (stack.label == cls))
        # both ends in the split's order among equals, as `orderlab examples` lists them
        easy = cand[np.argsort(-acc[cand], kind="stable")]
        hard = cand[np.argsort(acc[cand], kind="stable")]
        cut_ties += int(M.cut_tie(acc[easy], k) is not None or M.cut_tie(acc[hard], k) is not None)
        for c, x in [(i, e) for i, e in enumerate(easy[:k])] + [(k + 1 + i, e) for i, e in enumerate(hard[:k])]:
            img = images[row_of[int(stack.example_id[x])]]
            y0, x0 = r * cell_h, c * cell_w
            mosaic[y0:y0 + h, x0:x0 + w] = img if img.shape[-1] == 3 else np.repeat(img[..., :1], 3, axis=-1)
            # hung right under its image: centred in the gap, it read as the next row's
            labels.append((x0 + w / 2, y0 + h + pad_y * 0.08, f"{acc[x]:.2f}"))
    scale = 0.9 / max(h, w) * 28 / 32                  # about 0.8 inch per 32-pixel thumbnail
    fig = _figure(cols * cell_w * scale + 1.2, len(classes) * cell_h * scale + 0.7)
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest")
    for xt, yt, text in labels:
        ax.text(xt, yt, text, ha="center", va="top", fontsize=7)
    ax.set_xticks([k * cell_w / 2 - pad_x / 2, (k + 1) * cell_w + k * cell_w / 2 - pad_x / 2],
                  ["easiest (learned first)", "hardest (learned last)"])
    ax.xaxis.tick_top()
    ax.set_yticks([r * cell_h + h / 2 for r in range(len(classes))],
                  [class_names[c] if 0 <= c < len(class_names) else str(c) for c in classes])
    ax.tick_params(length=0)
    for sp in ax.spines.values():
        sp.set_visible(False)
    # what the numbers are (only the docs said), and the rows cut amid a tie, under the grid (a
    # note in the figure's corner touched the last row's numbers)
    caption = "under each example: its accessibility (the share of networks and trained checkpoints right on it)"
    if cut_ties:
        caption += (f"\n{cut_ties} of {len(classes)} rows: more examples tie in accessibility than are shown; "
                    f"the first in the split's order are drawn")
    ax.set_xlabel(caption, fontsize=7, loc="left")
    return fig
