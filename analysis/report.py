"""`orderlab report`: PNG figures, the analysis as JSON and a Markdown summary that embeds them."""
from __future__ import annotations

import json
import math
import re
import shlex
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from orderlab.analysis import figures as F
from orderlab.analysis import metrics as M
from orderlab.analysis.stack import Stack
from orderlab.analysis.summary import (analysis_json, example_rows, identical_notes, one_network_note,
                                       own_grids, pick_checkpoints, tie_note, tied_at_top, tied_note, tied_positions)
from orderlab.errors import OrderlabError, counted, epoch_text, unsigned_zero

REPORT_FILENAME = "report.md"
GRID_CLASSES = 10      # classes the example grid and the text table show: more would not fit a page
SPLIT_ORDER = ("test", "train")


def _f(x, fmt=".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else unsigned_zero(format(x, fmt))


def _ci(lo, hi) -> str:
    return "" if lo is None or hi is None else f" [{_f(lo)}, {_f(hi)}]"


def _intervals_said(oc: dict, single: set[str]) -> str:
    """What the order tables' intervals are, as far as there are any: an entry resting on fewer
    than 3 networks has none."""
    n = len(oc["archs"])
    lo = oc.get("spearman_lo")
    cells = [(i, j) for i in range(n) for j in range(n) if not (i == j and oc["archs"][i] in single)]
    have = sum(1 for i, j in cells if lo is not None and lo[i][j] is not None)
    if have == 0:
        return "without intervals (a jackknife interval needs 3 networks or more)"
    if have < len(cells):
        return "with 95% jackknife intervals where the entry rests on 3 networks or more"
    return "with 95% jackknife intervals"


def _matrix_md(archs: list[str], mat, lo=None, hi=None, single: set[str] = frozenset(), kappa=None) -> list[str]:
    """A Markdown matrix; the diagonal of an architecture in ``single`` (one network: its own two
    halves, 1 by construction) reads "– (1 network)". ``lo``/``hi``: intervals; ``kappa``: Cohen's κ
    beside each value (as `analyze` writes them)."""
    lines = ["| | " + " | ".join(archs) + " |", "|---" * (len(archs) + 1) + "|"]
    for i, a in enumerate(archs):
        cells = []
        for j in range(len(archs)):
            if i == j and a in single:
                cells.append("– (1 network)")
                continue
            cell = _f(mat[i][j])
            if lo is not None and lo[i][j] is not None and hi[i][j] is not None:
                cell += f" [{_f(lo[i][j], '.2f')}, {_f(hi[i][j], '.2f')}]"
            if kappa is not None and kappa[i][j] is not None:
                cell += f" (κ {_f(kappa[i][j], '.2f')})"
            cells.append(cell)
        lines.append(f"| **{a}** | " + " | ".join(cells) + " |")
    return lines


def _text_examples(stack: Stack, texts: dict, class_names: list[str], k: int = 3) -> list[str]:
    """Markdown table of the easiest and hardest texts (text datasets)."""
    row_of = {int(e): i for i, e in enumerate(np.asarray(texts["example_id"]))}
    lines = ["| class | easiest | hardest |", "|---|---|---|"]
    acc = M.accessibility(stack)
    for cls in np.unique(stack.label)[:GRID_CLASSES]:
        cand = np.array([x for x in np.flatnonzero(stack.label == cls) if int(stack.example_id[x]) in row_of])
        if cand.size == 0:
            continue
        order = cand[np.argsort(-acc[cand], kind="stable")]
        hardest = cand[np.argsort(acc[cand], kind="stable")]      # the split's order among equals, at both ends

        def cell(xs):
            out = []
            for x in xs:
                t = str(texts["text"][row_of[int(stack.example_id[x])]]).replace("|", "\\|").replace("\n", " ")
                out.append(f"{acc[x]:.2f}: {t[:80]}{'…' if len(t) > 80 else ''}")
            return "<br>".join(out)

        name = class_names[int(cls)] if 0 <= int(cls) < len(class_names) else str(cls)
        lines.append(f"| {name} | {cell(order[:k])} | {cell(hardest[:k])} |")
    return lines


def _classes_cut(stack: Stack, split: str, shown: int) -> list[str]:
    """A line saying how many classes the grid or table shows, when it cannot show them all (at
    most GRID_CLASSES, and only classes with a thumbnail or text among the stored examples)."""
    n = len(np.unique(stack.label))
    if shown >= n:
        return []
    names = stack.studies or ((stack.study,) if stack.study else ())
    studies = " ".join(shlex.quote(s) for s in names) or "STUDY"
    return [f"Shown: {shown} of the {n} classes; `orderlab examples {studies} --split {split} "
            f"--class NAME` (`--easiest N` or `--hardest N`) lists any class.", ""]



def metric_name(text: str) -> str:
    """An MLflow-safe metric name (letters, digits, _ - . / and spaces)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", text)


def report_metrics(stack: Stack, *, with_epoch: bool = True) -> dict[str, list[float]]:
    """Series logged to the study's report run, one value per checkpoint (step = checkpoint index):
    ``<split>_tpa/<arch>``, ``<split>_tpa_independent/<arch>``, ``<split>_accuracy/<arch>`` and
    and ``epoch`` (MLflow stores NaN, e.g. TPA before any network gets anything right, as NaN)."""
    out: dict[str, list[float]] = {}
    for arch, cur in M.group_curves(stack, bootstrap=0).items():
        for key in ("tpa", "tpa_independent", "accuracy"):
            out[metric_name(f"{stack.split}_{key}/{arch}")] = [float(v) for v in cur[key]]
    if with_epoch:
        out["epoch"] = [float(e) for e in stack.epoch]
    return out


# The files a report writes for each split (and report.md): `orderlab report` removes an earlier
# report's files for a split the new one does not cover.
REPORT_FILES = ("analysis_{split}.json", "tpa_{split}.png", "histograms_{split}.png", "arch_agreement_{split}.png",
                "network_agreement_{split}.png", "accessibility_{split}.png", "examples_{split}.png")


def write_report(stacks: dict[str, Stack], out_dir: str | Path, examples: dict | None = None,
                 title: str = "orderlab report", notes: Sequence[str] = (), examples_damaged: bool = False) -> Path:
    """Write figures, ``analysis_<split>.json`` and ``report.md`` into ``out_dir``; return the
    Markdown file. ``stacks`` maps split -> Stack; ``examples`` is what
    ``Store.load_examples`` returns (None: the example grid is skipped with a note, unless
    ``examples_damaged``: one of ``notes`` then says why); ``notes`` go under the header (e.g. a
    split left out)."""
    if not stacks:
        raise OrderlabError("nothing to report: no recorded split")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = [s for s in SPLIT_ORDER if s in stacks] + [s for s in stacks if s not in SPLIT_ORDER]
    first = stacks[splits[0]]
    md = [f"# {title}", "",
          f"Study **{first.study or '?'}**: {counted(first.n_networks, 'network')} "
          f"({', '.join(f'{len(first.arch_index(a))} {a}' for a in first.archs)}), "
          f"{counted(first.n_checkpoints, 'checkpoint')} ({first.units} {epoch_text(first.epoch[0])} to {epoch_text(first.epoch[-1])}); "
          f"splits: {', '.join(f'{s} ({stacks[s].n_examples} examples)' for s in splits)}. "
          f"Written {time.strftime('%Y-%m-%d %H:%M')}.", "",
          "TPA (true-positive agreement) = share of examples that *all* networks get right, over the mean "
          "accuracy; *independent* = the TPA networks of the same accuracies would reach if they erred "
          "independently. Intervals: 95%, jackknife over networks. Definitions: docs/analysis.md.", ""]
    for n in notes:                     # a paragraph each: adjacent quote lines merge into one
        md += [f"> note: {n}", ""]
    grid_notes: list[str] = []
    for split in splits:
        st = stacks[split]
        js = analysis_json(st)
        (out / f"analysis_{split}.json").write_text(json.dumps(js, indent=1))
        pts = pick_checkpoints(st)
        last = st.n_checkpoints - 1
        curves = M.group_curves(st)
        # Each architecture's own early and middle points (the table's "mid at", below): picked from
        # the pooled accuracy, 50 boosting rounds beside a fast mlp were read at round 1.
        own = {a: pick_checkpoints(st.select(st.arch_index(a))) for a in st.archs}
        figs = {
            f"tpa_{split}.png": F.fig_tpa(st, curves),
            f"histograms_{split}.png": F.fig_histograms(st, pts, per_arch=own),
            f"arch_agreement_{split}.png": F.fig_arch_agreement(*M.architecture_agreement(st, last), st, last),
            f"network_agreement_{split}.png": F.fig_network_agreement(st, last),
            f"accessibility_{split}.png": F.fig_accessibility(st),
        }
        for name, fig in figs.items():
            F.save(fig, out / name)
        md += [f"## {split} split", ""]
        for w in st.warnings:
            md += [f"> note: {w}", ""]
        mids = {a: own[a]["middle"] for a in js["groups"]}
        # each architecture's own middle, or one checkpoint at positions apart (other batch sizes)
        apart = len(set(mids.values())) > 1 or st.positions is not None
        mid_said = ("each architecture's first checkpoint two thirds of the way or more to its own final accuracy, "
                    "in the column *mid at*" if apart else
                    f"{st.at(next(iter(mids.values())))}, the first checkpoint two thirds of the way or more to the "
                    f"final accuracy")
        md += [f"At the last checkpoint{' all networks share' if st.cut_short else ''} ({st.at(last)}) and mid-training "
               f"({mid_said}):", "",
               "| architecture | networks | accuracy | TPA [95% interval] | independent TPA | Jaccard "
               + ("| mid at " if apart else "")
               + "| mid-training TPA | mid independent | bimodality TV (mid) | Sarle (mid) |",
               "|---" * (11 if apart else 10) + "|"]
        for arch, g in js["groups"].items():
            m = mids[arch]
            md.append(f"| {arch} | {g['n']} | {_f(g['accuracy'][last])} | {_f(g['tpa'][last])}"
                      f"{_ci(g['tpa_lo'][last], g['tpa_hi'][last])} | {_f(g['tpa_independent'][last])} "
                      f"| {_f(g['jaccard'][last])} " + (f"| {g['unit']} {epoch_text(g['epoch'][m])} " if apart else "")
                      + f"| {_f(g['tpa'][m])}{_ci(g['tpa_lo'][m], g['tpa_hi'][m])} "
                      f"| {_f(g['tpa_independent'][m])} | {_f(g['bimodality_tv'][m], '.2f')} "
                      f"| {_f(g['sarle'][m], '.2f')} |")
        single = {a for a, g in js["groups"].items() if g["n"] == 1}
        if single:
            md += ["", f"> note: {one_network_note(sorted(single))}"]
        for note in identical_notes(st, last):
            md += ["", f"> note: {note}"]
        md += ["", f"![TPA over training]({f'tpa_{split}.png'})", "",
               "### Correct-count histograms",
               "How many networks get each example right, against the histogram of independent networks with the "
               "same accuracies (black). Where networks learn the same examples, the counts pile up at the ends "
               "(right for all or for none; on real data the paper finds this U shape, leaning to the right end "
               "as accuracy grows), while independent networks spread them in one hump; the distance from "
               "independence (TV) and Sarle's coefficient in the table above measure which this study is "
               "closer to.", "",
               f"![correct-count histograms](histograms_{split}.png)", "",
               "### Agreement between architectures and networks", ""]
        aa = js["architecture_agreement"]
        md += ["**Mean pairwise TPA** (diagonal: distinct pairs within one architecture; Cohen's κ, agreement "
               "beyond chance, in brackets, as `orderlab analyze` gives them)", ""]
        md += _matrix_md(aa["archs"], aa["tpa"], kappa=aa.get("kappa"))
        md += ["", f"![architecture agreement](arch_agreement_{split}.png) "
               f"![network agreement](network_agreement_{split}.png)", "",
               "### Learning order",
               f"Spearman's ρ between accessibilities (area under each example's learning curve), half-group "
               f"against half-group, {_intervals_said(js['order_correlation'], single)}; then the share of the first "
               f"{int(js['order_correlation']['q'] * 100)}% of examples learned that two groups have in common "
               f"(unrelated orders give {js['order_correlation']['q']:.2f}).", ""]
        oc = js["order_correlation"]
        q = int(oc["q"] * 100)
        md += ["**Spearman ρ of accessibility** (diagonal: two halves of one architecture)", ""]
        md += _matrix_md(oc["archs"], oc["spearman"], oc.get("spearman_lo"), oc.get("spearman_hi"), single)
        md += ["", f"**Overlap of the first {q}% of examples learned** (chance: {oc['q']:.2f})", ""]
        md += _matrix_md(oc["archs"], oc["overlap"], oc.get("overlap_lo"), oc.get("overlap_hi"), single)
        tied = tied_at_top(st, oc["q"])
        if tied:
            md += ["", f"> note: {tied_note(tied, oc['q'], *tied_positions(st, tied), own_grids(st))}"]
        if st.n_networks == 1:
            md += ["", "One network: there is no second group to set its learning order against; the figure shows "
                   "how its examples' accessibility spreads.", "", f"![accessibility](accessibility_{split}.png)", ""]
        else:
            md += ["", "Each example's accessibility in one architecture against another (whole groups, not halves: "
                   "the numbers in the scatter's title are for these groups and usually run higher than the "
                   "half-group table's; one architecture: its networks split once into halves).", "",
                   f"![accessibility scatter](accessibility_{split}.png)", ""]
        rows_e = example_rows(st, 5)
        rows_h = example_rows(st, 5, hardest=True)
        names = (examples or {}).get("class_names") or None
        if names:
            for r in rows_e + rows_h:
                r["class"] = names[r["label"]] if 0 <= r["label"] < len(names) else r["class"]
        md += ["### Easiest and hardest examples", "",
               "| | example id | class | accessibility | " + " | ".join(f"learned at ({a})" for a in st.archs) + " |",
               "|---" * (4 + len(st.archs)) + "|"]
        for kind, rows in (("easiest", rows_e), ("hardest", rows_h)):
            for r in rows:
                la = [("never" if v["learned_at"] is None else epoch_text(v['learned_at'])) for v in r["archs"].values()]
                md.append(f"| {kind} {r['rank']} | {r['example_id']} | {r['class']} | {r['accessibility']:.3f} | "
                          + " | ".join(la) + " |")
        md.append("")
        for kind, rows in (("easiest", rows_e), ("hardest", rows_h)):
            if t := tie_note(rows, kind):
                md += [f"> note: {kind}: {t}", ""]
        thumbs = (examples or {}).get("splits", {}).get(split)
        if examples is None:
            if not examples_damaged:    # else the header's note says the file is damaged, and how to fix it
                grid_notes.append(f"{split}: no example thumbnails in this study (synthetic or created without "
                                  f"them); the example grid is skipped")
        elif examples.get("kind") == "features":       # names only: nothing to draw
            grid_notes.append(f"{split}: examples are feature vectors; no picture to show")
        elif thumbs is None:
            grid_notes.append(f"{split}: the study stores no thumbnails for this split; the example grid is skipped")
        elif "image" in thumbs:
            fig = F.fig_examples(st, thumbs, examples.get("class_names", []), max_classes=GRID_CLASSES)
            if fig is None:
                grid_notes.append(f"{split}: none of the recorded examples has a thumbnail; grid skipped")
            else:
                F.save(fig, out / f"examples_{split}.png")
                md += [f"![easiest and hardest examples per class](examples_{split}.png)", ""]
                md += _classes_cut(st, split, len(F.example_classes(st, thumbs["example_id"], GRID_CLASSES)))
        elif "text" in thumbs:
            table = _text_examples(st, thumbs, examples.get("class_names", []))
            md += table + [""] + _classes_cut(st, split, len(table) - 2)     # less its two header lines
        else:
            grid_notes.append(f"{split}: examples are feature vectors; no picture to show")
    if grid_notes:
        md += ["## Notes", ""] + [f"- {n}" for n in grid_notes] + [""]
    path = out / REPORT_FILENAME
    path.write_text("\n".join(md))
    return path
