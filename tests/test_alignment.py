"""Checkpoints of networks with other step sizes: a network records on whole training steps, so
`--record-every 0.25` puts an mlp of 43 steps an epoch at 0.256 and a cnn of 14 at 0.286. Aligned
on exactly equal positions they shared only the whole epochs (and a learner, recording at 0.25
exactly, shared only those with either)."""
import numpy as np
import pytest

from orderlab.analysis.stack import CLOSE, OWN_CHECKPOINTS, PARADIGMS, SHORT_OF_END, Stack, half_step, match_grids
from orderlab.analysis.summary import analysis_json
from orderlab.record import Record, RecordError
from orderlab.synthetic import synthetic_correct, synthetic_record
from orderlab.trainer.loop import checkpoint_steps

N = 120
LABELS = np.arange(N) % 10


def network(arch: str, seed: int, per_epoch: int, epochs: float = 2, every: float = 0.25) -> tuple[dict, Record]:
    """A network's record as the trainer makes it: checkpoints on whole steps of ``per_epoch``."""
    steps = np.array(checkpoint_steps(per_epoch, epochs, every))
    corr = synthetic_correct(1, len(steps), N, seed=seed)[0]
    rec = synthetic_record(corr, labels=LABELS, meta={}, epochs=steps / per_epoch, seed=seed)
    rec.step = steps.astype(np.int64)
    return {"run_id": f"{arch}{seed}", "arch": arch, "seed": seed}, rec


def learner(arch: str, seed: int, positions: np.ndarray) -> tuple[dict, Record]:
    corr = synthetic_correct(1, len(positions), N, seed=50 + seed)[0]
    rec = synthetic_record(corr, labels=LABELS, meta={}, epochs=positions, seed=seed)
    rec.step = np.round(positions * 1000).astype(np.int64)          # samples seen, say
    return {"run_id": f"{arch}{seed}", "arch": arch, "seed": seed, "stages": True}, rec


def test_half_a_step_from_the_record_and_none_for_learners_or_records_not_on_whole_steps():
    assert half_step(*network("mlp", 0, 43)) == pytest.approx(0.5 / 43)
    assert half_step(*learner("knn", 0, np.linspace(0, 2, 9))) == 0.0
    info, rec = network("mlp", 0, 43)
    rec.step = np.round(rec.epoch * 10).astype(np.int64)           # positions that are not its steps
    assert half_step(info, rec) == 0.0


def test_networks_of_other_batch_sizes_share_every_checkpoint_they_were_asked_for():
    recs = [network("mlp", j, 43) for j in range(3)] + [network("cnn", j, 14) for j in range(3)]
    st = Stack.from_records(recs, align="common")
    assert st.n_checkpoints == 9 and not any(w.startswith("aligned on") for w in st.warnings), st.warnings
    [note] = [w for w in st.warnings if w.startswith(CLOSE)]
    assert "most apart: mlp 0.256 and cnn 0.286" in note or "most apart: mlp 1.26 and cnn 1.29" in note, note
    # the first network's positions, and each architecture's own when selected
    assert np.allclose(st.epoch, np.array(checkpoint_steps(43, 2, 0.25)) / 43)
    cnn = st.select(st.arch_index("cnn"))
    assert np.allclose(cnn.epoch, np.array(checkpoint_steps(14, 2, 0.25)) / 14) and cnn.positions is None
    assert list(cnn.step) == checkpoint_steps(14, 2, 0.25) and cnn.steps is None
    # bits of each network at its own checkpoint
    assert np.array_equal(st.bits[3], recs[3][1].split("test").correct_bits)
    js = analysis_json(st, intervals=False)
    assert js["step"] is None and js["groups"]["cnn"]["step"] == checkpoint_steps(14, 2, 0.25)
    assert np.allclose(js["groups"]["mlp"]["epoch"], st.epoch) and np.allclose(js["groups"]["cnn"]["epoch"], cnn.epoch)
    # strict refuses them, naming the way out
    with pytest.raises(RecordError, match=r"cnn/s0, cnn/s1, cnn/s2 differ .*--align common"):
        Stack.from_records(recs)


def test_a_learners_exact_positions_meet_a_networks_nearest_steps():
    """0.25 beside 0.256: the note said "aligned on 3 common checkpoints" for a learner recording
    every 0.25 epochs beside an mlp recording every 0.25."""
    recs = [network("mlp", j, 43) for j in range(2)] + [learner("knn", j, np.arange(9) / 4) for j in range(2)]
    st = Stack.from_records(recs, align="common")
    assert st.n_checkpoints == 9 and st.own_totals is None, st.warnings
    assert np.allclose(st.select(st.arch_index("knn")).epoch, np.arange(9) / 4)
    # a position is a stage of one and an epoch of the other: said, once, also across studies
    said = [w for w in st.warnings if w.startswith(PARADIGMS)]
    assert said == [f"{PARADIGMS}: a position counts stages of knn and epochs of mlp, not one amount of training; "
                    "compare them by architecture or at the end"], st.warnings
    both = Stack.concat([Stack.from_records(recs[:2], study="n"), Stack.from_records(recs[2:], study="l")])
    assert sum(w.startswith(PARADIGMS) for w in both.warnings) == 1, both.warnings
    assert not any(PARADIGMS in w for w in Stack.from_records(recs[:2]).warnings)


def test_positions_further_apart_than_half_steps_stay_apart():
    """0.5 and 0.512 are one checkpoint (22 of 43 steps is the nearest to 0.5); 0.5 and 0.535 are not."""
    a = np.array([0, 0.5, 1.0])
    assert [list(p) for p in match_grids([a, np.array([0, 22 / 43, 1.0])], [0.0, 0.5 / 43])] == [[0, 1, 2]] * 2
    assert [list(p) for p in match_grids([a, np.array([0, 23 / 43, 1.0])], [0.0, 0.5 / 43])] == [[0, 2]] * 2
    # one position near two of the first grid's is the nearer's only
    picks = match_grids([np.array([0, 0.02, 0.04]), np.array([0, 0.03])], [0.01, 0.01])
    assert [list(p) for p in picks] == [[0, 1], [0, 1]]


def test_studies_of_other_batch_sizes_compare_on_every_checkpoint():
    a = Stack.from_records([network("mlp", j, 43) for j in range(3)], study="a")
    b = Stack.from_records([network("mlp", j + 10, 14) for j in range(3)], study="b")
    both = Stack.concat([a, b])
    assert both.n_checkpoints == 9 and any(w.startswith(CLOSE) for w in both.warnings), both.warnings
    assert not both.cut_short and both.positions.shape == (6, 9) and np.allclose(both.positions[3:], b.epoch)
    with pytest.raises(RecordError, match="different checkpoints"):
        Stack.concat([a, b], align="strict")


def test_an_export_keeps_each_networks_own_positions(tmp_path):
    """Under --align common a study of two batch sizes exports every checkpoint; `epoch` is the
    first network's and `network_epoch` each network's own (strict, the default, refuses)."""
    from typer.testing import CliRunner

    from orderlab.cli import app
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = CliRunner().invoke
    for arch, batch in (("mlp", "32"), ("logistic", None)):
        args = ["train", "--arch", arch, "--seeds", "0-1", "--epochs", "1", "--record-every", "0.25",
                "--train-subset", "200", "--test-subset", "50", "--study", "b", "--tracking-uri", uri, "-q"]
        r = run(app, args + (["--batch-size", batch] if batch else []))
        assert r.exit_code == 0, r.output
    r = run(app, ["export", "b", "-o", str(tmp_path / "b.npz"), "--tracking-uri", uri])
    assert r.exit_code == 2 and "--align common" in r.output, r.output
    r = run(app, ["export", "b", "-o", str(tmp_path / "b.npz"), "--align", "common", "--tracking-uri", uri])
    assert r.exit_code == 0 and CLOSE in r.output, r.output
    with np.load(tmp_path / "b.npz") as z:
        own = {a: z["network_epoch"][list(z["arch"]).index(a)] for a in ("mlp", "logistic")}
    assert np.allclose(own["logistic"], [0, 0.25, 0.5, 0.75, 1])                       # where asked
    assert np.allclose(own["mlp"], np.array(checkpoint_steps(7, 1, 0.25)) / 7), own   # 200 / 32: 7 steps


def test_figures_draw_each_architecture_at_its_own_positions_and_every_interval():
    """The TPA figure drew a cnn's line at an mlp's positions; it hid an interval whose lower end
    equalled TPA (a learner's TPA 0, interval 0–0.57, looked certain); a histogram of a learner
    beside networks was titled "epoch/stage"."""
    from orderlab.analysis import figures as F
    recs = [network("mlp", j, 43) for j in range(3)] + [network("cnn", j, 14) for j in range(3)] + \
        [learner("knn", j, np.arange(9) / 4) for j in range(3)]
    st = Stack.from_records(recs, align="common")
    curves = analysis_json(st, intervals=False)["groups"]
    curves["knn"].update(tpa=[0.0] * 9, tpa_lo=[0.0] * 9, tpa_hi=[0.5] * 9)
    ax = F.fig_tpa(st, curves).axes[0]
    lines = {line.get_label(): line.get_xdata() for line in ax.get_lines()}
    assert np.allclose(lines["cnn TPA (3 nets)"], np.array(checkpoint_steps(14, 2, 0.25)) / 14)
    assert np.allclose(lines["mlp TPA (3 nets)"], st.epoch)
    assert len(ax.collections) == 1                       # the learner's band (the others: no intervals)
    hist = F.fig_histograms(st, {"final": st.n_checkpoints - 1, "early": 1})
    titles = [a.get_title() for a in hist.axes if a.get_title()]
    assert any(t.startswith("knn, early: stage 0.25 ") for t in titles), titles
    assert any(t.startswith("cnn, early: epoch 0.286 ") for t in titles), titles


def test_the_tpa_figure_says_where_its_curves_stop_short():
    """Logged to MLflow alone, the TPA figure of an mlp beside 6 boosting rounds stopped at stage 2
    without a word; report.md alone said so."""
    from orderlab.analysis import figures as F
    recs = [network("mlp", j, 43) for j in range(3)] + [learner("adaboost", j, np.arange(7.0)) for j in range(3)]
    st = Stack.from_records(recs, align="common")
    fig = F.fig_tpa(st, analysis_json(st, intervals=False)["groups"])
    caption = fig.get_supxlabel()
    assert caption.startswith("note: at the last shared checkpoint, epoch/stage 2, adaboost (to stage 6) had further"), \
        caption
    alone = Stack.from_records(recs[:3])
    assert F.fig_tpa(alone, analysis_json(alone, intervals=False)["groups"]).get_supxlabel() == ""


def test_networks_a_step_apart_at_the_end_ended_together():
    """Compared across studies, mlps of two batch sizes that both trained 1.25 epochs (their last
    checkpoints at 1.256 and 1.286) were said to end at different epochs, and a second network of a
    study to have "had further to train" past a last checkpoint it recorded a step later."""
    a = Stack.from_records([learner("knn", 0, np.arange(7) / 4)] + [network("mlp", j, 43, epochs=1.25) for j in range(2)],
                           align="common", study="a")
    b = Stack.from_records([learner("gradient-boosting", 0, np.arange(11) / 8)], study="b")
    both = Stack.concat([a, b])
    assert not any("further to train" in w and "mlp" in w for w in both.warnings), both.warnings
    c = Stack.from_records([network("mlp", j, 43, epochs=1.25) for j in range(2)], study="c")
    d = Stack.from_records([network("mlp", j + 5, 14, epochs=1.25) for j in range(2)] +
                           [learner("gradient-boosting", 0, np.arange(11) / 8)], align="common", study="d")
    assert not any("end at different" in w for w in Stack.concat([c, d]).warnings), Stack.concat([c, d]).warnings


def test_unshared_positions_are_counted_once_per_position_not_per_step():
    """A network recording every step merged its neighbours, a step apart, into one "position":
    87 checkpoints beside 9 reported 8 dropped, not 78."""
    recs = [network("mlp", j, 43, every=1 / 43) for j in range(2)] + [learner("knn", 0, np.arange(9) / 4)]
    st = Stack.from_records(recs, align="common")
    assert st.warnings[0].startswith("aligned on 9 common checkpoints (78 not shared were dropped"), st.warnings
    # a grid that holds its untrained checkpoint twice (an old resumed record) drops nothing
    info, rec = network("mlp", 9, 43)
    twice = Record(meta={}, epoch=np.r_[0.0, rec.epoch], step=np.r_[0, rec.step],
                   splits={"test": rec.split("test").__class__(**{**vars(rec.split("test")),
                           "correct_bits": np.r_[rec.split("test").correct_bits[:1], rec.split("test").correct_bits],
                           "predicted": np.r_[rec.split("test").predicted[:1], rec.split("test").predicted],
                           "p_true": np.r_[rec.split("test").p_true[:1], rec.split("test").p_true]})})
    st = Stack.from_records([network("mlp", 0, 43), (info, twice)])
    assert st.n_checkpoints == 9 and not st.warnings, st.warnings


def test_a_grid_without_checkpoints_shares_none():
    assert [list(p) for p in match_grids([np.array([0, 1.0]), np.array([])], [0, 0])] == [[], []]


def test_a_selection_aligns_on_its_own_first_networks_half_step():
    """``select`` kept the first network's half step while showing another's positions: a cnn
    selected from beside an mlp then kept 5 of its 9 checkpoints against a learner."""
    st = Stack.from_records([network("mlp", 0, 43), network("cnn", 0, 14)], align="common")
    cnn = st.select(st.arch_index("cnn"))
    assert cnn.slack == pytest.approx(0.5 / 14)
    assert Stack.concat([cnn, Stack.from_records([learner("knn", 0, np.arange(9) / 4)])]).n_checkpoints == 9


def test_a_checkpoint_read_in_any_architectures_table_is_a_recorded_one():
    """With a learner first (at 0.25), `--checkpoint 0.286` read in the cnn's table was said not to
    be a checkpoint every network recorded."""
    st = Stack.from_records([learner("knn", 0, np.arange(9) / 4)] + [network("cnn", j, 14) for j in range(2)],
                            align="common")
    c = st.checkpoint_index(0.286)
    assert c == 1 and st.recorded_near(c, 0.286) and st.recorded_near(c, 0.25) and not st.recorded_near(c, 0.33)
    epoch, step = st.own_positions(st.arch_index("cnn"))
    assert np.allclose(epoch, np.array(checkpoint_steps(14, 2, 0.25)) / 14) and list(step) == checkpoint_steps(14, 2, 0.25)
    assert st.own_positions(np.arange(3))[1] is None          # the learner's steps and the cnn's differ


def test_a_chosen_epoch_stays_on_its_checkpoint_when_another_network_comes_first():
    """The TUI keeps a chosen checkpoint by its epoch: chosen at an mlp's 0.256, it slipped back to
    the untrained checkpoint once a cnn (0.286) came first in the stack."""
    from orderlab.app.screens.study import chosen_index
    cnn_first = Stack.from_records([network("cnn", 0, 14), network("mlp", 0, 43)], align="common")
    assert chosen_index(cnn_first, 0.2558) == 1 and chosen_index(cnn_first, 0.5116) == 2
    assert chosen_index(cnn_first, 0.0) == 0 and chosen_index(cnn_first, 9.0) == cnn_first.n_checkpoints - 1


def test_learned_at_and_the_notes_use_each_architectures_own_positions(tmp_path):
    """Learned-at read the first network's positions for every network (an mlp's examples "learned
    at 0.286", the cnn's checkpoint); the note named a learner's 0.25 against a cnn's 0.286, which
    no network's table shows; report.md's "mid at" gave the cnn's position for every architecture."""
    from orderlab.analysis import metrics as M
    from orderlab.analysis.report import write_report
    recs = [network("cnn", j, 14) for j in range(3)] + [network("mlp", j, 43) for j in range(3)] + \
        [learner("knn", j, np.arange(9) / 4) for j in range(3)]
    st = Stack.from_records(recs, align="common")
    own = {a: set(np.round(st.own_positions(st.arch_index(a))[0], 9)) for a in ("cnn", "mlp", "knn")}
    for a in own:
        la = M.learned_at(st, st.arch_index(a))
        assert set(np.round(la[np.isfinite(la)], 9)) <= own[a], a
    [note] = [w for w in st.warnings if w.startswith(CLOSE)]
    assert "most apart: mlp 0.256 and cnn 0.286" in note or "most apart: mlp 1.26 and cnn 1.29" in note, note
    text = write_report({"test": st}, tmp_path / "r").read_text()
    rows = {line.split("|")[1].strip(): line.split("|")[7].strip() for line in text.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in own}
    assert rows["knn"].startswith("stage ") and rows["mlp"].startswith("epoch ") and rows["cnn"].startswith("epoch "), rows
    from orderlab.errors import epoch_text
    assert rows["mlp"].split()[1] in {epoch_text(x) for x in own["mlp"]} - {epoch_text(x) for x in own["cnn"]}, rows
    assert "> note:" in text and "\n> note:" in text and not any(
        a.startswith("> note:") and b.startswith("> note:") for a, b in zip(text.splitlines(), text.splitlines()[1:]))


def test_the_tpa_figure_names_a_band_only_where_intervals_were_computed():
    """With 2 networks an architecture the jackknife gives no interval, and the title named a band."""
    from orderlab.analysis import figures as F
    from orderlab.analysis import metrics as M
    two = Stack.from_records([network("mlp", j, 43) for j in range(2)])
    three = Stack.from_records([network("mlp", j, 43) for j in range(3)])
    assert F.fig_tpa(two, M.group_curves(two)).axes[0].get_title().endswith("intervals need 3 networks or more)")
    assert F.fig_tpa(three, M.group_curves(three)).axes[0].get_title().endswith("band: 95% interval over networks)")


def test_networks_identical_at_another_checkpoint_are_said_so():
    """Two untrained learners guessing one class began their curve at TPA 1 with no word of why:
    the note on identical networks came only for the checkpoint asked for."""
    from orderlab.analysis.summary import analysis_json
    recs = [learner("logistic", j, np.arange(5) / 4) for j in range(2)]
    for _, rec in recs:                                    # the same guess at stage 0, as the prior class gives
        rec.split("test").correct_bits[0] = recs[0][1].split("test").correct_bits[0]
    st = Stack.from_records(recs)
    said = [w for w in analysis_json(st, intervals=False)["warnings"] if "exactly the same examples" in w]
    assert said == ["logistic: its networks are right on exactly the same examples at stage 0, where TPA and Jaccard "
                    "are 1 by construction (the seed changes nothing there: an untrained learner guesses one "
                    "class, k-NN or an SVM fit on all the data is one model)"], said


def test_the_note_on_identical_networks_gives_their_own_position(tmp_path):
    """"knn: … exactly the same examples at epoch/stage 0.286": the first network's (a cnn's)
    position and the study's mixed unit, beside a note giving knn's own stages."""
    from orderlab.analysis.report import write_report
    from orderlab.analysis.summary import analysis_json
    recs = [network("cnn", j, 14) for j in range(2)] + [learner("knn", j, np.arange(9) / 4) for j in range(2)]
    bits = recs[2][1].split("test").correct_bits
    recs[3][1].split("test").correct_bits[:] = bits                  # k-NN: one model whatever the seed
    st = Stack.from_records(recs, align="common")
    said = [w for w in analysis_json(st, 1)["warnings"] if w.startswith("knn: its networks are right on exactly")]
    assert said[0].startswith("knn: its networks are right on exactly the same examples at stage 0.25, so TPA"), said
    text = write_report({"test": st}, tmp_path / "r", notes=("first note", "second note")).read_text()
    lines = text.splitlines()
    assert not any(a.startswith("> note:") and b.startswith("> note:") for a, b in zip(lines, lines[1:])), text


def test_tied_learners_beside_networks_get_advice_per_architecture():
    """Ties of a learner and a network took the earliest first checkpoint of either (a stage beside
    an epoch) to size one --record-every for both."""
    from orderlab.analysis.summary import tied_note, tied_positions
    st = Stack.from_records([network("mlp", j, 43) for j in range(2)] + [learner("knn", j, np.arange(9) / 4)
                                                                         for j in range(2)], align="common")
    note = tied_note({"mlp": 0.5, "knn": 0.6}, 0.2, *tied_positions(st, {"mlp": 0.5, "knn": 0.6}))
    assert note.endswith("(record earlier checkpoints to separate them; `--arch NAME` sizes this advice to one "
                         "architecture's own checkpoints)") and "--record-every" not in note, note
    alone = tied_note({"mlp": 0.5}, 0.2, *tied_positions(st, {"mlp": 0.5}))
    assert "right from the first trained checkpoint, epoch 0.256: to separate them" in alone, alone


def test_a_checkpoint_recorded_apart_reads_as_the_networks_range_of_positions():
    """The status line, heatmap titles, report and analyze's matrix title gave the first network's
    position (an mlp's 0.256) for a checkpoint a cnn beside it recorded at 0.286."""
    recs = [network("mlp", j, 43) for j in range(2)] + [network("cnn", j, 14) for j in range(2)]
    st = Stack.from_records(recs, align="common")
    assert [st.at(c) for c in range(3)] == ["epoch 0", "epoch 0.256–0.286", "epoch 0.5–0.512"]
    assert st.span(1) == pytest.approx((11 / 43, 4 / 14))
    assert st.select(st.arch_index("cnn")).at(1) == "epoch 0.286"
    js = analysis_json(st, 1, intervals=False)
    assert js["checkpoint"] == {"index": 1, "epoch": pytest.approx(11 / 43), "at": "epoch 0.256–0.286"}
    # networks of one step size: one position, as before
    alike = Stack.from_records([network("mlp", j, 43) for j in range(2)], align="common")
    assert alike.at(1) == "epoch 0.256" and alike.span(1) == (alike.epoch[1], alike.epoch[1])


def test_compared_studies_name_each_network_once_with_its_study(tmp_path):
    """Compared in the TUI (each study's architectures labelled "s1:mlp"), the note on checkpoints
    apart read "most apart: bs100:bs100:mlp …", and a network waiting to catch up was named
    without its study, though the other study had one of that name."""
    from orderlab.app.source import StudySource
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "s1", archs=("mlp",), seeds=2, n_checkpoints=5, n_examples=60, per_epoch={"mlp": 43})
    populate_store(store, "s2", archs=("cnn",), seeds=2, n_checkpoints=5, n_examples=60, per_epoch={"cnn": 14})
    populate_store(store, "s2", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=60, finish=False)
    data = StudySource(uri).load(("s1", "s2"))
    [note] = [w for w in data.notes if w.startswith(CLOSE)]
    assert "s1:mlp 0." in note and "s2:cnn 0." in note and "s1:s1:" not in note and "s2:s2:" not in note, note
    assert data.waiting == ["s2:mlp/s0 at 2 checkpoints"], data.waiting


def test_compared_studies_say_once_what_had_further_to_train_and_each_alignment_whole():
    """A study's own "at the last shared checkpoint, stage 6, gradient-boosting had further to train"
    stood beside the joint one at another checkpoint ("epoch/stage 1") and contradicted it. Its own
    alignment note said "8 not shared were dropped" only, though accessibility and learning orders
    still use every network's own checkpoints; it says so whatever the number shared."""
    a = Stack.from_records([network("mlp", j, 43) for j in range(2)], study="a")
    b = Stack.from_records([network("mlp", 5, 43), learner("gradient-boosting", 0, np.arange(13) / 2)],
                           align="common", study="b")
    assert any(w.startswith(SHORT_OF_END) for w in b.warnings), b.warnings
    own = next(w for w in b.warnings if w.startswith("aligned on"))
    assert own.endswith(f"; {OWN_CHECKPOINTS})"), own
    both = Stack.concat([a, b])
    assert not any(w.startswith(f"b: {SHORT_OF_END}") for w in both.warnings), both.warnings
    assert [w for w in both.warnings if w.startswith(SHORT_OF_END)], both.warnings      # the joint one
    assert f"b: {own}" in both.warnings
    # the joint alignment says it as well (it read as if the other checkpoints were dropped everywhere)
    assert both.warnings[0].startswith("aligned on ") and both.warnings[0].endswith(
        f"checkpoints common to all studies ({OWN_CHECKPOINTS})"), both.warnings[0]
