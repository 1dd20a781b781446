"""The report (figures, JSON, Markdown) and the demo's agreement summary."""
import dataclasses
import json
import re

import numpy as np
import pytest
from rich.console import Console
from matplotlib.backends.backend_agg import FigureCanvasAgg

from orderlab.analysis import metrics as M
from orderlab.analysis.report import metric_name, report_metrics, write_report
from orderlab.analysis.summary import agreement_summary, analysis_json, example_rows, pick_checkpoints, text_histogram
from orderlab.analysis.summary import own_grids, tied_at_top, tied_note
from orderlab.synthetic import synthetic_correct

PNG = b"\x89PNG\r\n\x1a\n"


def make_stacks(archs=("mlp", "cnn"), per=4, n_c=9, n=240, splits=("test", "train"), classes=10):
    g = np.repeat(np.arange(len(archs)), per)
    labels = np.random.default_rng(0).integers(0, classes, n)
    out = {}
    for i, split in enumerate(splits):
        st = M.as_stack(synthetic_correct(g.size, n_c, n, seed=i, groups=g), arch=np.array(archs)[g],
                        epoch=np.linspace(0, 2, n_c), label=labels, split=split)
        st.study = "unit"
        out[split] = st
    return out


def render(lines):
    con = Console(record=True, width=400)
    for line in lines:
        con.print(line)                       # raises on broken rich markup
    return con.export_text()


def test_report_without_examples_writes_every_figure_and_embeds_them(tmp_path):
    stacks = make_stacks()
    md = write_report(stacks, tmp_path / "rep", None, "unit report")
    text = md.read_text()
    assert md.name == "report.md" and text.startswith("# unit report")
    # the histogram section says what a U shape means and what measures it, not that this study has one
    # (the demo's report said "Real data gives a U shape" under a histogram leaning to one end)
    assert "Real data gives a U shape" not in text and "measure which this study is closer to" in text
    pngs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    for split in ("test", "train"):
        for stem in ("tpa", "histograms", "arch_agreement", "network_agreement", "accessibility"):
            assert f"{stem}_{split}.png" in pngs
    for name in pngs:
        data = (tmp_path / "rep" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
    assert "example grid is skipped" in text                       # no thumbnails: a note, no grid
    assert not list((tmp_path / "rep").glob("examples_*.png"))
    js = json.loads((tmp_path / "rep" / "analysis_test.json").read_text())
    assert set(js["groups"]) == {"mlp", "cnn"} and len(js["epoch"]) == 9
    assert "| mlp | 4 |" in text
    assert "**Spearman ρ of accessibility**" in text and "**Overlap of the first 20% of examples learned**" in text
    # κ beside each mean pairwise TPA and the overlap's intervals, as `analyze` and the JSON give them
    aa, oc = js["architecture_agreement"], js["order_correlation"]
    i, j = aa["archs"].index("mlp"), aa["archs"].index("cnn")
    assert f"{aa['tpa'][i][j]:.3f} (κ {aa['kappa'][i][j]:.2f})" in text, text
    i, j = oc["archs"].index("mlp"), oc["archs"].index("cnn")
    assert f"{oc['overlap'][i][j]:.3f} [{oc['overlap_lo'][i][j]:.2f}, {oc['overlap_hi'][i][j]:.2f}]" in text, text
    # the scatter's numbers are whole groups' and the table's half-groups': the report and the figure say so
    assert "whole groups, not halves" in text
    from orderlab.analysis import figures as F
    title = F.fig_accessibility(stacks["test"]).axes[0].get_title()
    assert title.startswith("whole groups: Spearman ρ "), title
    assert F.fig_accessibility(stacks["test"].select(stacks["test"].arch_index("mlp"))).axes[0].get_title(
        ).startswith("one split: ")


def test_report_with_image_thumbnails_draws_the_example_grid(tmp_path):
    stacks = make_stacks(splits=("test",))
    ids = np.arange(0, 240, 2)
    rng = np.random.default_rng(1)
    examples = {"dataset": "synthetic", "kind": "image", "class_names": [f"class{i}" for i in range(10)],
                "splits": {"test": {"example_id": ids, "label": stacks["test"].label[ids],
                                    "image": rng.integers(0, 255, (ids.size, 8, 8, 1), dtype=np.uint8)}}}
    md = write_report(stacks, tmp_path, examples)
    text = md.read_text()
    assert "(examples_test.png)" in text and (tmp_path / "examples_test.png").read_bytes().startswith(PNG)
    assert re.search(r"\| class\d \|", text)                        # class names in the tables
    assert "Shown: the first" not in text                           # every class fits
    with_train = make_stacks(per=2, n_c=4, n=60)
    text = write_report(with_train, tmp_path / "both", examples).read_text()
    assert "no thumbnails for this split" in text                   # train has none


def test_report_with_texts_writes_a_table(tmp_path):
    stacks = make_stacks(archs=("text-bag",), per=3, splits=("test",))
    ids = np.arange(240)
    examples = {"dataset": "t", "kind": "text", "class_names": [f"c{i}" for i in range(10)],
                "splits": {"test": {"example_id": ids, "label": stacks["test"].label,
                                    "text": np.array([f"sentence number {i} | with a pipe" for i in ids])}}}
    text = write_report(stacks, tmp_path, examples).read_text()
    assert "| class | easiest | hardest |" in text and "sentence number" in text and "\\|" in text


@pytest.mark.parametrize("kind", ["image", "text"])
def test_report_says_which_classes_the_examples_leave_out(tmp_path, kind):
    stacks = make_stacks(per=2, n_c=4, splits=("test",), classes=12)
    ids = np.arange(240)
    names = [f"class{i}" for i in range(12)]
    shown = ({"image": np.random.default_rng(1).integers(0, 255, (240, 8, 8, 1), dtype=np.uint8)} if kind == "image"
             else {"text": np.array([f"text {i}" for i in ids])})
    examples = {"dataset": "synthetic", "kind": kind, "class_names": names,
                "splits": {"test": {"example_id": ids, "label": stacks["test"].label, **shown}}}
    text = write_report(stacks, tmp_path, examples).read_text()
    assert ("Shown: 10 of the 12 classes; `orderlab examples unit --split test --class NAME` (`--easiest N` or "
            "`--hardest N`) lists any class.") in text
    if kind == "text":                                              # the table's rows: classes 0-9 only
        rows = re.findall(r"^\| (class\d+) \| \d\.\d\d: text", text, re.M)
        assert rows == [f"class{i}" for i in range(10)]
    # thumbnails of only some examples (the first stored, as a study keeps its first 2,000): only
    # their classes are drawn, and the line says how many
    few = ids[np.isin(stacks["test"].label, [0, 1])]
    part = {k: (v[few] if k in ("image", "text") else v) for k, v in shown.items()}
    examples["splits"]["test"] = {"example_id": few, "label": stacks["test"].label[few], **part}
    text = write_report(stacks, tmp_path / "few", examples).read_text()
    assert "Shown: 2 of the 12 classes;" in text
    # two studies stacked: the command names each ("orderlab examples a+b" named no study)
    from orderlab.analysis.stack import Stack
    st = stacks["test"]
    half = st.n_networks // 2
    a, b = st.select(np.arange(half)), st.select(np.arange(half, st.n_networks))
    a.study, b.study, b.run_id = "base", "my runs", np.array([f"b{i}" for i in range(b.n_networks)])
    both = Stack.concat([a, b])
    assert both.study == "base+my runs" and both.studies == ("base", "my runs")
    assert both.select([0]).studies == ("base", "my runs")
    a.study = b.study = ""                                           # stacks a library caller left unnamed
    assert Stack.concat([a, b]).studies == ()
    text = write_report({"test": both}, tmp_path / "both", examples).read_text()
    assert "`orderlab examples base 'my runs' --split test --class NAME`" in text


def test_figures_of_a_single_network(tmp_path):
    from orderlab.analysis import figures as F
    st = make_stacks(archs=("mlp",), per=1, splits=("test",))["test"]
    for name, fig in (("acc", F.fig_accessibility(st)), ("net", F.fig_network_agreement(st, 8)),
                      ("hist", F.fig_histograms(st, pick_checkpoints(st))),
                      ("tpa", F.fig_tpa(st, M.group_curves(st)))):
        assert F.save(fig, tmp_path / f"{name}.png").read_bytes().startswith(PNG)
    # the report says that one network's agreement is 1 by construction instead of showing it as a result
    two = make_stacks(archs=("mlp", "cnn"), per=1, splits=("test",))
    text = write_report(two, tmp_path / "one", None).read_text()
    assert "> note: cnn, mlp have one network: TPA, independent TPA and Jaccard are 1" in text
    order = text.split("**Spearman ρ of accessibility**")[1].split("###")[0]
    assert order.count("– (1 network)") == 4 and "| 1.00" not in order, order
    # one network in all: "1 network", not "1 networks"
    one = write_report(make_stacks(archs=("mlp",), per=1, splits=("test",)), tmp_path / "alone", None).read_text()
    assert "**: 1 network (1 mlp)," in one, one[:400]


def test_report_metrics_are_per_architecture_and_mlflow_safe():
    st = make_stacks(archs=("mlp", "tv:resnet18"))["test"]
    series = report_metrics(st)
    assert "test_tpa/mlp" in series and "test_tpa/tv_resnet18" in series and "epoch" in series
    assert all(len(v) == st.n_checkpoints for v in series.values())
    assert "epoch" not in report_metrics(st, with_epoch=False)
    assert metric_name("a:b c/d") == "a_b c/d"


def test_agreement_summary_tells_the_finding():
    st = make_stacks(per=6)["test"]
    text = render(agreement_summary(st))
    assert "TPA" in text and "independent" in text and "█" in text
    assert "within mlp" in text and "across mlp–cnn" in text
    assert "far more than independent" in text                      # synthetic networks share difficulty
    single = render(agreement_summary(make_stacks(archs=("mlp",), per=3)["test"]))
    assert "across" not in single


def test_text_histogram_bins_many_networks():
    obs = np.zeros(101)
    obs[0], obs[100] = 50, 80
    lines = text_histogram(obs, np.full(101, 130 / 101))
    assert len(lines) == 12 and lines[1].strip().startswith("0-")
    render(lines)


def test_analysis_json_is_plain_json_with_nulls():
    st = make_stacks()["test"]
    js = analysis_json(st, 3)
    text = json.dumps(js, allow_nan=False)                          # NaN became null
    back = json.loads(text)
    assert back["checkpoint"] == {"index": 3, "epoch": pytest.approx(0.75), "at": "epoch 0.75"}
    assert back["groups"]["mlp"]["tpa"][0] is None or isinstance(back["groups"]["mlp"]["tpa"][0], float)
    assert "all" in back and back["all"]["n"] == 8
    assert np.array(back["order_correlation"]["spearman"]).shape == (2, 2)


def test_pick_checkpoints_and_example_rows():
    st = make_stacks()["test"]
    pts = pick_checkpoints(st)
    assert 0 < pts["early"] <= pts["middle"] <= pts["final"] == st.n_checkpoints - 1
    easy = example_rows(st, 5)
    hard = example_rows(st, 5, hardest=True, cls=3)
    assert [r["accessibility"] for r in easy] == sorted((r["accessibility"] for r in easy), reverse=True)
    assert all(r["label"] == 3 for r in hard)
    assert easy[0]["accessibility"] >= hard[0]["accessibility"]
    assert set(easy[0]["archs"]) == {"mlp", "cnn"}


def test_network_agreement_names_each_network_and_greys_its_diagonal():
    """The figure is ordered by architecture then seed: with few networks each is named; the
    diagonal (a network with itself, always 1) is left out of the colour scale, which it pinned."""
    from orderlab.analysis import figures as F
    st = make_stacks(per=4)["test"]
    st.seed = np.tile(np.arange(4), 2)
    fig = F.fig_network_agreement(st, st.n_checkpoints // 2)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{a} s{s}" for a in st.archs for s in range(4)], labels
    img = ax.images[0]
    data = np.ma.getdata(img.get_array())
    assert np.all(np.isnan(np.diag(data)))
    vmin, vmax = img.get_clim()
    off = data[~np.eye(len(data), dtype=bool)]
    assert vmax == pytest.approx(off.max()) and vmin == pytest.approx(off.min()) and vmax < 1
    many = make_stacks(per=20)["test"]                  # 40 networks: the architectures' blocks
    ax = F.fig_network_agreement(many, many.n_checkpoints - 1).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(many.archs)


def test_last_shared_only_where_some_network_went_further():
    """Stacks on other grids aligned on their common checkpoints: the last kept is called the
    "last shared" one only when some network recorded past it, not when all end there."""
    from orderlab.analysis import figures as F
    from orderlab.analysis.stack import Stack

    def stack(epochs, arch, seed):
        st = M.as_stack(synthetic_correct(2, len(epochs), 60, seed=seed), arch=np.array([arch, arch]),
                        epoch=np.array(epochs, float), label=np.zeros(60, int), split="test")
        st.run_id = np.array([f"{arch}{seed}a", f"{arch}{seed}b"])
        return st
    same_end = Stack.concat([stack([0, 0.5, 1], "mlp", 0), stack([0, 0.25, 0.5, 0.75, 1], "cnn", 1)])
    longer = Stack.concat([stack([0, 0.5, 1], "mlp", 0), stack([0, 0.5, 1, 1.5], "cnn", 1)])
    assert list(same_end.epoch) == [0, 0.5, 1] and not same_end.cut_short
    assert list(longer.epoch) == [0, 0.5, 1] and longer.cut_short and longer.select([0, 1]).cut_short
    for st, word in ((same_end, "final"), (longer, "last shared")):
        titles = " ".join(ax.get_title() for ax in F.fig_histograms(st, {"final": st.n_checkpoints - 1}).axes)
        assert word in titles and ({"final", "last shared"} - {word}).pop() not in titles, titles


def test_networks_identical_at_a_checkpoint_are_said_to_agree_by_construction(tmp_path):
    """k-NN or an SVM on the whole training set is the same model whatever the seed: its TPA of 1
    read as agreement (on random labels, 1.000 against 0.001 independent)."""
    n_c, n = 5, 120
    c = synthetic_correct(6, n_c, n, seed=1, groups=np.repeat([0, 1], 3))
    c[3:, -1] = c[3, -1]                     # the three knn networks: identical at the last checkpoint
    st = M.as_stack(c, arch=np.array(["mlp"] * 3 + ["knn"] * 3), epoch=np.arange(n_c, dtype=float), split="test")
    js = analysis_json(st)
    [note] = [w for w in js["warnings"] if "right on exactly the same examples" in w]
    assert note.startswith("knn: its networks are right on exactly the same examples at epoch 4, so TPA and Jaccard "
                           "are 1"), note
    # they differ earlier: at epoch 2 nothing holds by construction, and the note names where it does
    said = [w for w in analysis_json(st, 2)["warnings"] if "exactly the same" in w]
    assert len(said) == 1 and said[0].startswith("knn: its networks are right on exactly the same examples at "
                                                 "epoch 4, where TPA and Jaccard are 1 by construction"), said
    # every network right on every example (an mlp at 100% train accuracy): equal, but not for the seed
    c[:3, -1] = True
    st = M.as_stack(c, arch=np.array(["mlp"] * 3 + ["knn"] * 3), epoch=np.arange(n_c, dtype=float), split="train")
    assert [w.split(":")[0] for w in analysis_json(st)["warnings"] if "exactly the same" in w] == ["knn"]
    md = write_report({"test": st}, tmp_path / "rep", None, "unit").read_text()
    assert "> note: knn: its networks are right on exactly the same examples at epoch 4" in md
    # the figures say so too: seen alone, knn's 1.000 and its two bars read as perfect agreement
    from orderlab.analysis import figures as F
    from orderlab.analysis.metrics import architecture_agreement
    archs, mat = architecture_agreement(st, n_c - 1)
    title = F.fig_arch_agreement(archs, mat, st, n_c - 1).axes[0].get_title()
    assert "knn: identical networks, 1 by construction" in title and "mlp" not in title, title
    hist = F.fig_histograms(st, {"early": 2, "final": n_c - 1})
    titles = [ax.get_title() for ax in hist.axes if ax.get_title()]
    same = [t for t in titles if "identical networks: two bars by construction" in t]
    assert len(same) == 1 and same[0].startswith("knn, final"), titles     # not mlp's, nor knn's earlier


def test_report_figures_draw_every_architecture(tmp_path):
    """Seven architectures (a paradigms study): the histograms showed the first four and the
    accessibility scatter three pairs of the first one, so mlp against the learners never appeared."""
    from orderlab.analysis import figures as F
    archs = ("adaboost", "gradient-boosting", "knn", "logistic", "mlp", "random-forest", "svm")
    st = make_stacks(archs=archs, per=2, n_c=5, n=120, splits=("test",))["test"]
    hist = F.fig_histograms(st, pick_checkpoints(st))
    titles = " ".join(ax.get_title() for ax in hist.axes)
    assert all(f"{a}," in titles for a in archs) and hist._suptitle is None
    # the x axis counts networks (2 here, then 1): whole numbers only, as with more networks
    for fig in (hist, F.fig_histograms(st.select([0]), pick_checkpoints(st))):
        FigureCanvasAgg(fig).draw()
        ticks = np.concatenate([ax.get_xticks() for ax in fig.axes])
        assert ticks.size and np.all(ticks == np.round(ticks)), ticks
    acc = F.fig_accessibility(st)
    shown = [ax for ax in acc.axes if ax.get_visible() and ax.get_xlabel().startswith("accessibility")]
    drawn = {ax.get_xlabel().split(", ", 1)[1] for ax in shown} | {ax.get_ylabel().split(", ", 1)[1] for ax in shown}
    assert len(shown) == 6 and drawn == set(archs)
    assert acc._suptitle.get_text() == "6 of 21 pairs, each architecture beside the next; every pair is in the order table"
    # up to six pairs: all of them, no caption
    four = make_stacks(archs=archs[:4], per=2, n_c=5, n=120, splits=("test",))["test"]
    assert sum(ax.get_visible() for ax in F.fig_accessibility(four).axes) == 6 + 1      # and the colour bar
    # identical networks: a colour scale inside [0, 1] (it ran to 1.005)
    same = M.as_stack(np.ones((3, 2, 50), bool), arch=np.array(["knn"] * 3), epoch=np.array([0.0, 1.0]))
    im = F.fig_network_agreement(same, 1).axes[0].images[0]
    assert im.norm.vmin >= 0 and im.norm.vmax <= 1


def test_an_overlap_among_examples_tied_at_the_top_is_said_to_be_a_draw(tmp_path):
    """On digits 85% of the examples are right at every trained checkpoint: the first 20% is a draw
    among them, and the overlap of 0.21 read as "unrelated orders"."""
    n_c, n = 4, 200
    c = np.zeros((4, n_c, n), bool)
    c[:, 1:, : int(0.6 * n)] = True                    # 60% right from the first trained checkpoint on
    c[:, 2:, int(0.6 * n):int(0.8 * n)] = True
    st = M.as_stack(c, arch=np.array(["mlp"] * 4), epoch=np.arange(n_c, dtype=float), split="test")
    js = analysis_json(st, intervals=False)
    [note] = [w for w in js["warnings"] if "tie at the highest accessibility" in w]
    assert "mlp 60%" in note and "near 0.20 by construction" in note, note
    # the advice fits the study: before its first trained checkpoint (a fixed "--record-every 0.25"
    # was offered to studies recorded every 0.25 epochs)
    assert "first trained checkpoint, epoch 1:" in note and "--record-every 0.5, or train more slowly)" in note, note
    # rounds and trees do not split: said where learners are analysed
    st.stages = np.ones(4, bool)
    [note] = [w for w in analysis_json(st, intervals=False)["warnings"] if "tie at the highest" in w]
    assert "stage 1: to separate them" in note and "a forest's first round or tree is its earliest)" in note, note
    # one architecture whose networks recorded different checkpoints (AdaBoost seeds stopping at
    # different rounds) keeps the concrete advice: its shared grid is its own
    assert not own_grids(dataclasses.replace(st, own_totals=np.zeros((4, n), np.uint32), own_scale=3))
    assert own_grids(dataclasses.replace(st, own_totals=np.zeros((4, n), np.uint32), own_scale=3,
                                         arch=np.array(["mlp", "mlp", "ada", "ada"])))
    # aligned on shared checkpoints, each architecture on its own: the shared grid sizes no advice
    note = tied_note(tied_at_top(st, 0.2), 0.2, st.epoch, "epoch/stage", own_grids=True)
    assert "--record-every" not in note and "`--arch NAME` sizes this advice" in note, note
    from orderlab.analysis.report import _ci, _f
    assert (_f(-0.0001), _ci(-0.0004, 0.2), _f(-0.25, ".2f")) == ("0.000", " [0.000, 0.200]", "-0.25")
    quarter = M.as_stack(c, arch=np.array(["mlp"] * 4), epoch=np.arange(n_c) * 0.25, split="test")
    [note] = [w for w in analysis_json(quarter, intervals=False)["warnings"] if "tie at the highest" in w]
    assert "epoch 0.25:" in note and "--record-every 0.125, " in note and "learner" not in note, note
    text = write_report({"test": quarter}, tmp_path / "r", None, "u").read_text()
    assert "tie at the highest" in text and "--record-every 0.125, " in text
    half = c.copy()
    half[:, 2:] = False                              # right at half the trained checkpoints at most: no tie "at every"
    assert not any("tie at" in w for w in analysis_json(M.as_stack(half, arch=np.array(["mlp"] * 4),
                                                                   epoch=np.arange(n_c, dtype=float)),
                                                        intervals=False)["warnings"])
    c[:, 1:, : int(0.1 * n)] = True                   # 10% first: below the 20% compared, nothing to say
    c[:, 1, int(0.1 * n):int(0.6 * n)] = False
    assert not any("tie at" in w for w in analysis_json(M.as_stack(c, arch=np.array(["mlp"] * 4),
                                                                   epoch=np.arange(n_c, dtype=float)),
                                                        intervals=False)["warnings"])


def test_examples_tied_beyond_those_shown_are_said_to_be_a_pick(tmp_path):
    """On digits 30% of the test examples tie at accessibility 1: "easiest 1-5" were the five
    lowest ids among 137, read as an order that is not there."""
    from orderlab.analysis import figures as F
    from orderlab.analysis.summary import tie_note
    n_c, n = 4, 40
    c = np.zeros((3, n_c, n), bool)
    c[:, 1:, :12] = True                                   # 12 right at every trained checkpoint
    c[:, 2:, 12:20] = True
    st = M.as_stack(c, arch=np.array(["mlp"] * 3), epoch=np.arange(n_c, dtype=float), split="test",
                    label=np.arange(n) % 2)
    rows = example_rows(st, 5)
    assert [r["tied"] for r in rows] == [12] * 5
    assert tie_note(rows, "easiest") == ("12 examples tie at accessibility 1.000: the 5 of them shown are the first "
                                         "in the split's order, no easier than the other 7")
    assert tie_note(example_rows(st, 12), "easiest") is None            # all of the tied shown
    # one shown, one not: in the singular (it read "the 1 of them shown are … than the other 1")
    from orderlab.analysis.summary import tie_sentence
    assert tie_sentence((0.5, 2, 1), "hardest") == ("2 examples tie at accessibility 0.500: the one of them shown "
                                                    "is the first in the split's order, no harder than the other one")
    hard = example_rows(st, 3, hardest=True)
    assert "20 examples tie at accessibility 0.000" in tie_note(hard, "hardest")
    text = write_report({"test": st}, tmp_path / "r", None, "u").read_text()
    assert "> note: easiest: 12 examples tie at accessibility 1.000" in text, text
    ids = np.arange(n)
    thumbs = {"example_id": ids, "image": np.zeros((n, 8, 8, 1), np.uint8)}
    fig = F.fig_examples(st, thumbs, ["a", "b"], k=3)
    assert "more examples tie in accessibility than are shown" in fig.axes[0].get_xlabel()
    # each number hangs under its own image: centred in the 4-pixel gap, it read as the next row's
    for t in fig.axes[0].texts:
        below = t.get_position()[1] % 12 - 8           # cells of 8 + 4 pixels, the image on top
        assert t.get_verticalalignment() == "top" and 0 <= below < 1, (t.get_text(), t.get_position())
    # the grid's hardest are the table's: the first in the split's order among the tied (it drew
    # the last ones under a caption saying "first")
    marks = {}
    ids = np.arange(n)
    for value in range(n):                       # each thumbnail a distinct grey, to find it in the mosaic
        thumbs["image"][value] = value
    mosaic = F.fig_examples(st, thumbs, ["a", "b"], k=3).axes[0].images[0].get_array()
    cell_h, cell_w = 8 + 4, 8 + 1
    for col in range(7):
        marks[col] = int(mosaic[0 * cell_h, col * cell_w, 0])
    hard_rows = [r["example_id"] for r in example_rows(st, 3, hardest=True, cls=0)]
    assert [marks[c] for c in (4, 5, 6)] == hard_rows, (marks, hard_rows)
    # four examples of one class at accessibilities 1, 2/3, 1/3, 0: the one shown at each end is alone
    c2 = np.zeros((3, n_c, 4), bool)
    for x in range(3):
        c2[:, 1 + x:, x] = True
    untied = M.as_stack(c2, arch=np.array(["mlp"] * 3), epoch=np.arange(n_c, dtype=float), split="test",
                        label=np.zeros(4, int))
    assert tie_note(example_rows(untied, 1), "easiest") is None
    assert tie_note(example_rows(untied, 1, hardest=True), "hardest") is None
    thumbs4 = {"example_id": np.arange(4), "image": np.zeros((4, 8, 8, 1), np.uint8)}
    caption = F.fig_examples(untied, thumbs4, ["a"], k=1).axes[0].get_xlabel()
    assert caption.startswith("under each example: its accessibility") and "tie" not in caption, caption


def test_figures_of_an_architecture_of_one_network_say_so(tmp_path):
    """1 mlp beside 3 cnns: its TPA line at 1 (and the independent one hidden behind it), its blank
    diagonal and its histograms' "TV 0.00, Sarle 0.99" read as findings."""
    from orderlab.analysis import figures as F
    st = make_stacks(archs=("mlp", "cnn"), per=3, n_c=5, n=120, splits=("test",))["test"]
    st = st.select(np.r_[st.arch_index("mlp")[:1], st.arch_index("cnn")])
    js = analysis_json(st, intervals=False)
    ax = F.fig_tpa(st, js["groups"]).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "mlp: 1 network, TPA 1 by construction" in labels and "mlp if independent" not in labels, labels
    assert "cnn TPA (3 nets)" in labels and "cnn if independent" in labels
    archs, mat = M.architecture_agreement(st, st.n_checkpoints - 1)
    texts = {t.get_text(): t.get_color() for t in F.fig_arch_agreement(archs, mat, st, st.n_checkpoints - 1).axes[0].texts}
    assert texts.get("1 network") == "dimgrey", texts
    titles = [a.get_title() for a in F.fig_histograms(st, pick_checkpoints(st)).axes]
    assert all("1 network: no agreement to measure" in t for t in titles if t.startswith("mlp")), titles
    assert all("Sarle" in t for t in titles if t.startswith("cnn")), titles


def test_accessibility_scatter_draws_each_point_once_with_its_count_inside_the_axes():
    """137 of 450 digits examples sat at (1, 1) as one half-clipped dot: the scatter hid how much
    of the data agrees. Each distinct point is drawn once, coloured by its count, within limits
    that leave the points at 0 and 1 whole."""
    from orderlab.analysis import figures as F
    n_c, n = 4, 100
    c = np.zeros((4, n_c, n), bool)
    c[:, 1:, :60] = True                                 # 60 examples at (1, 1)
    c[:2, 1:, 60:80] = True                              # 20 right for mlp only: (1, 0)
    st = M.as_stack(c, arch=np.array(["mlp", "mlp", "cnn", "cnn"]), epoch=np.arange(n_c, dtype=float))
    fig = F.fig_accessibility(st)
    ax = fig.axes[0]
    [sc] = ax.collections
    pts = {tuple(p): int(k) for p, k in zip(np.asarray(sc.get_offsets()).tolist(), sc.get_array())}
    assert sum(pts.values()) == n and pts[(1.0, 1.0)] == 60 and pts[(1.0, 0.0)] == 20 and pts[(0.0, 0.0)] == 20
    assert ax.get_xlim()[0] < 0 < 1 < ax.get_xlim()[1] and ax.get_ylim()[0] < 0 < 1 < ax.get_ylim()[1]
    assert sc.norm.vmax == 60 and fig.axes[-1].get_ylabel() == "examples at the point (log)"
    # the colour bar labels 1, 2, 5, 10, 20, 50 only (each minor tick labelled ran them together),
    # and the panel's title stays inside the figure, clear of the colour bar
    fig.canvas.draw()
    bar = fig.axes[-1].yaxis
    lo, hi = sorted(fig.axes[-1].get_ylim())
    shown = [t for t in bar.get_major_ticks() if lo <= t.get_loc() <= hi]
    assert [t.label1.get_text() for t in shown] == ["1", "2", "5", "10", "20", "50"], [t.get_loc() for t in shown]
    assert not [t.get_text() for t in bar.get_ticklabels(minor=True) if t.get_text()]
    title = ax.title.get_window_extent()
    assert title.x1 <= fig.axes[-1].get_window_extent().x0 and title.x0 >= 0
    assert "\nfirst-20% overlap" in ax.get_title()


def test_order_tables_say_which_intervals_they_have(tmp_path):
    """report.md headed the order tables "with 95% jackknife intervals" for a study of 2 mlps, and
    the tables showed none (an interval needs 3 networks; across two such architectures, 4)."""
    two = make_stacks(archs=("mlp",), per=2, n_c=5, n=120, splits=("test",))["test"]
    md = write_report({"test": two}, tmp_path / "two").read_text()
    assert "half-group, without intervals (a jackknife interval needs 3 networks or more)" in md
    pairs = make_stacks(archs=("mlp", "cnn"), per=2, n_c=5, n=120, splits=("test",))["test"]
    md = write_report({"test": pairs}, tmp_path / "pairs").read_text()
    assert "with 95% jackknife intervals where the entry rests on 3 networks or more" in md
    three = make_stacks(archs=("mlp", "cnn"), per=3, n_c=5, n=120, splits=("test",))["test"]
    md = write_report({"test": three}, tmp_path / "three").read_text()
    assert "half-group, with 95% jackknife intervals;" in md


def test_each_architecture_is_read_mid_training_at_its_own_middle(tmp_path):
    """A fast architecture beside a slow one: the pooled accuracy's middle was every architecture's,
    and the slow one was read at its second checkpoint (accuracy 0.2 of its final 0.9)."""
    n_c, n = 11, 200
    rng = np.random.default_rng(0)
    c = np.zeros((6, n_c, n), bool)
    c[:3, 1:] = rng.random((3, n_c - 1, n)) < 0.95                       # fast: learned at once
    share = np.linspace(0.1, 0.9, n_c)
    c[3:] = rng.random((3, n_c, n)) < share[None, :, None]              # slow: learned over the whole run
    st = M.as_stack(c, arch=np.array(["fast"] * 3 + ["slow"] * 3), epoch=np.arange(n_c, dtype=float), split="test")
    text = write_report({"test": st}, tmp_path / "rep", None).read_text()
    assert "in the column *mid at*" in text and "| mid at |" in text, text[:1500]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in text.splitlines() if line.startswith("| fast ") or line.startswith("| slow ")}
    assert rows["fast"][6] == "epoch 1" and rows["slow"][6] == "epoch 7", rows
    # ... and so are its histogram panels: the slow row's "middle" panel read epoch 1, where the
    # table's TV and Sarle are of epoch 7
    from orderlab.analysis import figures as F
    own = {a: pick_checkpoints(st.select(st.arch_index(a))) for a in st.archs}
    titles = [ax.get_title() for ax in F.fig_histograms(st, pick_checkpoints(st), per_arch=own).axes]
    assert any(t.startswith("slow, middle: epoch 7") for t in titles), titles
    assert any(t.startswith("fast, early = middle: epoch 1") for t in titles), titles
    drawn = []
    real = F.fig_histograms
    import unittest.mock
    with unittest.mock.patch.object(F, "fig_histograms", lambda *a, **k: drawn.append(k) or real(*a, **k)):
        write_report({"test": st}, tmp_path / "again", None)
    assert drawn and drawn[0]["per_arch"]["slow"]["middle"] == 7
