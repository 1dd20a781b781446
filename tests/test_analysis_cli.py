"""`orderlab analyze`, `orderlab report`, `orderlab examples` on synthetic studies in a real store."""
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.errors import OrderlabError
from orderlab.record import save_examples
from orderlab.store import Store
from orderlab.synthetic import populate_store

N_CKPT, N_EX = 6, 120


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    """One store for the module: three studies, two of the same data, one of other data."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "syn", archs=("mlp", "cnn"), seeds=3, n_checkpoints=N_CKPT, n_examples=N_EX, seed=0)
    populate_store(store, "more", archs=("vgg",), seeds=2, n_checkpoints=N_CKPT, n_examples=N_EX, seed=0)
    populate_store(store, "other", archs=("mlp",), seeds=2, n_checkpoints=N_CKPT, n_examples=N_EX, seed=9,
                   splits=("test",))
    populate_store(store, "short", archs=("vgg",), seeds=2, n_checkpoints=3, n_examples=N_EX, seed=0)
    ids = np.arange(N_EX)
    rng = np.random.default_rng(0)                                  # populate_store's labels: train, then test
    rng.integers(0, 10, N_EX)
    labels = rng.integers(0, 10, N_EX)
    ex = save_examples(root / "examples.npz", dataset="synthetic", kind="image",
                       class_names=[f"c{i}" for i in range(10)],
                       splits={"test": {"example_id": ids, "label": labels,
                                        "image": np.zeros((N_EX, 8, 8, 1), np.uint8)}})
    store.write_examples(store.study_parent("syn"), ex)
    return uri


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_analyze_json_schema(uri):
    r = run("analyze", "syn", "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    assert js["study"] == "syn" and js["split"] == "test" and len(js["epoch"]) == N_CKPT
    assert set(js["groups"]) == {"mlp", "cnn"}
    for g in js["groups"].values():
        assert g["n"] == 3
        for key in ("accuracy", "tpa", "tpa_independent", "jaccard", "tpa_lo", "tpa_hi"):
            assert len(g[key]) == N_CKPT
        assert g["tpa"][-1] > g["tpa_independent"][-1]             # synthetic networks share difficulty
    aa = js["architecture_agreement"]
    assert sorted(aa["archs"]) == ["cnn", "mlp"] and np.array(aa["tpa"], float).shape == (2, 2)
    oc = js["order_correlation"]
    assert np.array(oc["spearman"], float).shape == (2, 2) and oc["archs"] == aa["archs"]
    assert js["checkpoint"]["index"] == N_CKPT - 1


def test_analyze_tables_checkpoint_split_and_arch(uri):
    r = run("analyze", "syn", "--split", "train", "--checkpoint", "0.5", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    assert "mlp (3 networks)" in r.stdout and "architecture agreement" in r.stdout and "Spearman" in r.stdout
    assert "at epoch 0.5" in r.stdout and "outside the recorded epochs" not in r.stdout
    for asked in ("99", "-1", "1e17"):              # the nearest, but said: the user asked for another epoch
        js = json.loads(run("analyze", "syn", "--checkpoint", asked, "--json", "--tracking-uri", uri).stdout)
        last = (N_CKPT - 1) / 4
        assert js["warnings"][0] == (f"--checkpoint {float(asked):g} is outside the recorded epochs (0 to {last:g}); the "
                                     f"agreement matrix is at the nearest, epoch {0 if asked == '-1' else last:g}")
        assert js["checkpoint"]["index"] == (0 if asked == "-1" else N_CKPT - 1)
    # between two checkpoints (epochs 0, 0.25, 0.5, …): the later of two as near, and said; 0.5 between
    # epochs 0 and 1 of a study aligned on those had given the untrained networks without a word
    js = json.loads(run("analyze", "syn", "--checkpoint", "0.125", "--json", "--tracking-uri", uri).stdout)
    assert js["checkpoint"] == {"index": 1, "epoch": 0.25, "at": "epoch 0.25"}, js["checkpoint"]
    assert js["warnings"][0].startswith("--checkpoint 0.125 is not a checkpoint every network recorded (0, 0.25, ") \
        and js["warnings"][0].endswith("); the agreement matrix is at the nearest, epoch 0.25"), js["warnings"]
    r = run("analyze", "syn", "--arch", "cnn", "--json", "--no-intervals", "--tracking-uri", uri)
    js = json.loads(r.stdout)
    assert list(js["groups"]) == ["cnn"]
    assert set(js["groups"]["cnn"]["tpa_lo"]) == {None} and set(js["groups"]["cnn"]["tpa_hi"]) == {None}
    oc = js["order_correlation"]                    # the documented keys, null: not computed
    assert all(oc[f"{m}_{end}"] is None for m in ("spearman", "overlap") for end in ("lo", "hi")), oc
    r = run("analyze", "syn", "--arch", "cnn", "--no-intervals", "--tracking-uri", uri)
    assert r.exit_code == 0 and "TPA" in r.stdout, r.output
    assert "95% interval" not in r.stdout and not re.search(r"\d\.\d\d–\d\.\d\d", r.stdout), r.stdout


def test_analyze_several_studies_of_the_same_data(uri):
    r = run("analyze", "syn", "more", "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    assert set(js["groups"]) == {"mlp", "cnn", "vgg"} and js["n_networks"] == 8


def test_studies_with_other_checkpoints_align_on_common_ones_unless_strict(uri):
    r = run("analyze", "syn", "short", "--json", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    assert len(js["epoch"]) == 3 and any("aligned on 3 checkpoints" in w for w in js["warnings"])
    r = run("analyze", "syn", "short", "--align", "strict", "--tracking-uri", uri)
    assert r.exit_code == 2 and "\n" not in r.stderr.strip(), r.output
    # where they differ, not only how many (two studies of 5 checkpoints each said "(a 5, c 5)")
    assert ("recorded different checkpoints (syn: 6 checkpoints at 0, 0.25, 0.5 … 1.25; short: 3 checkpoints "
            "at 0, 0.25, 0.5)") in r.stderr and "--align common" in r.stderr


def test_mismatched_data_is_refused(uri):
    r = run("analyze", "syn", "other", "--tracking-uri", uri)
    assert r.exit_code == 2
    assert "\n" not in r.stderr.strip()
    assert r.stderr.startswith("error: studies 'syn' and 'other' recorded different data (data fingerprints ")
    assert r.stderr.strip().endswith("cannot be compared; compare studies trained with the same --dataset and "
                                     "data options")


def test_mismatched_data_options_are_named(tmp_path):
    """Studies trained on different subsets: the refusal names the option, not only fingerprints."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    fast = ["--arch", "mlp", "--seeds", "0", "--epochs", "1", "--quiet", "--train-subset", "200",
            "--tracking-uri", uri]
    assert run("train", "--study", "big", "--test-subset", "100", *fast).exit_code == 0
    assert run("train", "--study", "small", "--test-subset", "80", *fast).exit_code == 0
    assert run("train", "--study", "other", "--test-subset", "80", *fast[:7], "--train-subset", "150",
               "--tracking-uri", uri).exit_code == 0
    r = run("analyze", "big", "small", "--tracking-uri", uri)
    assert r.exit_code == 2 and r.stderr.strip() == (
        "error: studies 'big' and 'small' recorded different data (--test-subset 100 in big, not 80 in small) "
        "and cannot be compared; compare studies trained with the same --dataset and data options"), r.output
    # only what shapes the split analysed is named: on the test split, not the other's train subset
    r = run("analyze", "big", "other", "--tracking-uri", uri)
    assert r.exit_code == 2 and "(--test-subset 100 in big, not 80 in other)" in r.stderr, r.output
    r = run("analyze", "small", "other", "--split", "train", "--tracking-uri", uri)
    assert r.exit_code == 2 and "(--train-subset 200 in small, not 150 in other)" in r.stderr, r.output


@pytest.mark.parametrize("args, message", [
    (("analyze", "syn", "--split", "valid"), "unknown split"),
    (("analyze", "nope"), "no study named"),
    (("analyze", "syn", "--arch", "resnet"), "no network of architecture resnet"),
    (("analyze", "other", "--split", "train"), "not recorded"),
    (("examples", "syn", "--easiest", "3", "--hardest", "3"), "not both"),
    (("examples", "syn", "--class", "zebra"), "unknown class"),
    (("analyze", "syn", "--align", "loose"), "bad --align"),
    (("analyze", "syn", "more", "syn"), "study 'syn' is named more than once"),
    (("examples", "syn", "syn"), "study 'syn' is named more than once"),
    (("analyze", "syn", "--checkpoint", "inf"), "--checkpoint must be an epoch"),
    (("analyze", "syn", "--checkpoint", "nan"), "--checkpoint must be an epoch"),
    (("examples", "syn", "--class", "11"), "no recorded example has class 11; classes present"),
    # a name longer than the file system allows (a traceback from pathlib, exit 1)
    (("export", "syn", "-o", "a" * 300 + ".npz"), "File name too long; choose another file name"),
    (("report", "syn", "-o", "b" * 300), "File name too long; choose another folder"),
    # the suffix is required, and the fix names the file it would be
    (("export", "syn", "-o", "out"), "export file must end in .npz (got out); name it e.g. out.npz"),
    (("export", "syn", "-o", "out.csv"), "(got out.csv); name it e.g. out.npz"),
])
def test_user_errors_are_one_line(uri, args, message):
    r = run(*args, "--tracking-uri", uri)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and r.stderr.startswith("error: ")


def test_examples_easiest_hardest_and_class(uri):
    easy = json.loads(run("examples", "syn", "--easiest", "5", "--json", "--tracking-uri", uri).stdout)
    hard = json.loads(run("examples", "syn", "--hardest", "5", "--json", "--tracking-uri", uri).stdout)
    assert len(easy) == len(hard) == 5
    acc_e = [r["accessibility"] for r in easy]
    assert acc_e == sorted(acc_e, reverse=True) and acc_e[-1] >= max(r["accessibility"] for r in hard)
    assert set(easy[0]["archs"]) == {"mlp", "cnn"}
    # forgetting events per architecture: the mean over its networks of right-then-wrong checkpoints
    from orderlab.analysis import metrics as M
    from orderlab.studydata import load_stack
    st = load_stack(Store(uri), "syn")
    for row in easy + hard:
        for a, cell in row["archs"].items():
            c = st.correct(networks=st.arch_index(a))[:, :, row["index"]]          # [networks, checkpoints]
            assert cell["forgetting"] == pytest.approx(np.mean(np.sum(c[:, :-1] & ~c[:, 1:], axis=1)))
    assert any(cell["forgetting"] > 0 for row in hard for cell in row["archs"].values())
    by_name = json.loads(run("examples", "syn", "--class", "c4", "--json", "--tracking-uri", uri).stdout)
    assert by_name and all(r["label"] == 4 and r["class"] == "c4" for r in by_name)
    r = run("examples", "syn", "--hardest", "3", "--class", "2", "--tracking-uri", uri)
    assert r.exit_code == 0 and "hardest 3 examples" in r.stdout and "c2" in r.stdout
    assert "(test split, class c2)" in " ".join(r.stdout.split()), r.stdout      # the class the number chose
    # each row says how many examples share its accessibility; the table says when those shown are
    # a pick among more tied ones
    from collections import Counter
    from orderlab.analysis.summary import tie_note
    every = json.loads(run("examples", "syn", "--hardest", str(N_EX), "--json", "--tracking-uri", uri).stdout)
    counts = Counter(r["accessibility"] for r in every)
    assert all(r["tied"] == counts[r["accessibility"]] for r in easy + hard)
    v = easy[-1]["accessibility"]
    assert counts[v] > sum(r["accessibility"] == v for r in easy)          # this store's fifth easiest is cut
    note = tie_note(easy, "easiest")
    assert note and note.startswith(f"{counts[v]} examples tie at accessibility {v:.3f}: the ")
    assert tie_note(easy[:3], "easiest") is None                            # the first three: all of theirs
    r = run("examples", "syn", "--easiest", "5", "--tracking-uri", uri)
    assert note in " ".join(r.stdout.split()), r.stdout


def test_report_writes_files_and_logs_them_as_the_study_report_run(uri, tmp_path):
    out = tmp_path / "rep"
    r = run("report", "syn", "-o", str(out), "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    for name in ("report.md", "tpa_test.png", "tpa_train.png", "examples_test.png", "analysis_train.json"):
        assert (out / name).exists(), name
    store = Store(uri)
    [first] = store.report_runs("syn")
    rr = store.client.get_run(first)
    assert rr.data.tags["mlflow.parentRunId"] == store.study_parent("syn") and rr.info.status == "FINISHED"
    logged = {f.path for f in store.client.list_artifacts(first, "report")}
    assert "report/report.md" in logged and "report/tpa_test.png" in logged
    assert sorted(m.step for m in store.client.get_metric_history(first, "test_tpa/mlp")) == list(range(N_CKPT))
    assert len(store.client.get_metric_history(first, "epoch")) == N_CKPT
    assert store.client.get_metric_history(first, "train_tpa_independent/cnn")
    # The report is not a network: the study's runs and counts are unchanged by it.
    assert len(store.list_runs("syn")) == len({r.run_id for r in store.list_runs("syn")})
    assert all(r.run_id != first for r in store.list_runs("syn"))

    # Another report replaces it: one report run, each curve logged once per checkpoint (MLflow's
    # history only grows, so logging again to the same run would repeat every step).
    r = run("report", "syn", "-o", str(out), "--split", "test", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    [second] = store.report_runs("syn")
    assert second != first and store.client.get_run(first).info.lifecycle_stage == "deleted"
    assert sorted(m.step for m in store.client.get_metric_history(second, "test_tpa/mlp")) == list(range(N_CKPT))
    logged = {f.path for f in store.client.list_artifacts(second, "report")}
    assert "report/tpa_test.png" in logged and "report/tpa_train.png" not in logged   # only this report's files
    # ... and its params say what it covers, so the MLflow UI tells a test-only report from a whole one
    assert store.client.get_run(first).data.params["splits"] == "test,train"
    params = store.client.get_run(second).data.params
    assert params["splits"] == "test" and set(params["archs"].split(",")) == {"mlp", "cnn"} and params["networks"] == "6"
    assert params["checkpoints"] == str(N_CKPT)


def test_a_report_that_fails_to_log_keeps_the_earlier_report_run(uri, tmp_path, monkeypatch):
    assert run("report", "syn", "-o", str(tmp_path / "a"), "--tracking-uri", uri).exit_code == 0
    store = Store(uri)
    [earlier] = store.report_runs("syn")

    def fail(self, run_id, series, steps):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Store, "log_metric_series", fail)
    r = run("report", "syn", "-o", str(tmp_path / "b"), "--tracking-uri", uri)
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert f"wrote the report to {tmp_path / 'b'} but could not log it to MLflow (No space left on device)" \
        in r.output and "--no-log" in r.output
    assert (tmp_path / "b" / "report.md").is_file()
    assert store.report_runs("syn") == [earlier]
    assert store.client.get_run(earlier).info.lifecycle_stage == "active"


def test_a_class_is_found_by_its_name_and_numeric_names_are_never_indices():
    """Numeric labels keep their values as names (an npz labelled 0, 10, 20, 30 has classes 0-3 named
    "0", "10", "20", "30"): `--class 20` is the class the table shows as 20. A number that names no
    class is refused rather than taken as an index: with labels 1, 2, 3, `--class 0` was the class
    named 1, and `--class 2` the class named 2."""
    from orderlab.analysis.summary import resolve_class
    names = ["0", "10", "20", "30"]
    assert resolve_class("20", names) == 2 and resolve_class("0", names) == 0
    for text, names in (("2", ["0", "10", "20", "30"]), ("0", ["1", "2", "3"])):
        with pytest.raises(OrderlabError, match=f"unknown class '{text}'; use one of the labels: .*{names[-1]}"):
            resolve_class(text, names)
    assert resolve_class("2", ["1", "2", "3"]) == 1
    # integral float labels (an npz of 1.0, 2.0, 3.0) are numbers too, matched by value
    floats = ["1.0", "2.0", "3.0"]
    assert resolve_class("3", floats) == 2 and resolve_class("2.0", floats) == 1 and resolve_class("03", floats) == 2
    with pytest.raises(OrderlabError, match="unknown class '0'; use one of the labels: 1.0, 2.0, 3.0"):
        resolve_class("0", floats)
    assert resolve_class("7", [f"c{i}" for i in range(10)]) == 7 and resolve_class("c7", [f"c{i}" for i in range(10)]) == 7


def test_a_store_named_on_the_command_line_is_named_in_the_commands_suggested(tmp_path, monkeypatch):
    """This folder's own store, but named with --tracking-uri (or MLFLOW_TRACKING_URI): the resume
    command in the note names it too, as the TUI's do; copied into a terminal in another folder, a
    bare command would resume into that folder's store. Not named: a bare command."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "cut", archs=("mlp",), seeds=2, n_checkpoints=4, n_examples=N_EX)
    [killed] = populate_store(store, "cut", archs=("knn",), seeds=1, n_checkpoints=2, n_examples=N_EX, finish=False,
                              learners=("knn",))
    store.end_run(killed, "KILLED")
    for args, named in ((["--tracking-uri", uri], True), ([], False)):
        js = json.loads(run("analyze", "cut", "--json", *args).stdout)
        note = next(w for w in js["warnings"] if w.startswith("left out 1 network"))
        assert "knn/s0 (KILLED at stage " in note, note       # a learner's position is a stage
        want = "`orderlab sweep --resume cut" + (f" --tracking-uri {uri}`" if named else "`")
        assert want in note, (args, note)


def test_each_architectures_table_names_its_own_positions_and_fits_80_columns(tmp_path):
    """A learner beside a network: knn's table counts stages, mlp's epochs, all networks' both; at
    80 columns no header is cut (the interval column took one too many and cut "independent")."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "mix", archs=("mlp", "knn"), seeds=3, n_checkpoints=4, n_examples=N_EX,
                   learners=("knn",))
    js = json.loads(run("analyze", "mix", "--json", "--tracking-uri", uri).stdout)
    assert ({a: g["unit"] for a, g in js["groups"].items()}, js["all"]["unit"], js["unit"]) == \
        ({"knn": "stage", "mlp": "epoch"}, "epoch/stage", "epoch/stage")
    r = CliRunner().invoke(app, ["analyze", "mix", "--tracking-uri", uri], env={"COLUMNS": "80"})
    tables = {t.split(" (")[0]: t for t in re.split(r"\n(?=(?:knn|mlp|all networks) \()", r.stdout)[1:]}
    heads = {a: " ".join(ln for ln in t.splitlines() if ln.startswith("┃")) for a, t in tables.items()}
    assert "┃  stage ┃" in heads["knn"] and "┃  epoch ┃" in heads["mlp"], heads
    assert "┃ epoch/ ┃" in heads["all networks"] and "┃  stage ┃" in heads["all networks"], heads
    for a, h in heads.items():
        assert "…" not in h and "┃ independent ┃" in h and "interval ┃" in h, (a, h)


def test_the_curve_tables_keep_every_header_whole_at_80_columns_with_longer_positions(tmp_path):
    """Positions such as "0.512 ◂" beside the interval column made the all-networks table one column
    too wide for 80: Rich cut "independent" to "independe…". It is "indep. TPA" there, on two lines,
    and "independent" where it fits."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "long", archs=("mlp", "cnn"), seeds=3, n_checkpoints=3, n_examples=N_EX,
                   per_epoch={"mlp": 43, "cnn": 43})
    for width, header in (("80", "indep."), ("120", "independent")):
        r = CliRunner().invoke(app, ["analyze", "long", "--tracking-uri", uri], env={"COLUMNS": width})
        table = r.stdout.split("all networks (6 networks) over training")[1].split("TPA: share")[0]
        heads = " ".join(ln for ln in table.splitlines() if ln.startswith("┃"))
        assert "0.512 ◂" in table and "interval ┃" in heads and f"┃ {header} ┃" in heads, (width, table)
        assert "…" not in table and max(map(len, table.splitlines())) <= int(width), (width, table)
    assert "independent (indep. TPA): the same for networks erring independently" in " ".join(r.stdout.split())
    # narrower than about 75, Rich cut every interval to "0.13–0…": the agreement columns go to a
    # second table under the first, every number whole
    r = CliRunner().invoke(app, ["analyze", "long", "--tracking-uri", uri], env={"COLUMNS": "70"})
    table = r.stdout.split("all networks (6 networks) over training")[1].split("TPA: share")[0]
    heads = [" ".join(ln.split("┃")).split() for ln in table.splitlines() if ln.startswith("┃")]
    assert ["epoch", "accuracy", "TPA", "interval", "TPA"] in heads and ["epoch", "Jaccard", "TV", "Sarle"] in heads
    assert "…" not in table and max(map(len, table.splitlines())) <= 70, table
    import re
    assert len(re.findall(r"\d\.\d\d–\d\.\d\d", table)) == 3, table      # each checkpoint's interval whole
    # under about 50, Rich cut the first table's header and intervals ("accur…", "0.00–0…"): each
    # table then holds the columns that fit beside the position, every number and header whole
    for width in (45, 36):
        r = CliRunner().invoke(app, ["analyze", "long", "--tracking-uri", uri], env={"COLUMNS": str(width)})
        table = r.stdout.split("over training")[-1].split("TPA: share")[0]
        heads = [" ".join(ln.split("┃")).split() for ln in table.splitlines() if ln.startswith("┃")]
        assert "…" not in table and max(map(len, table.splitlines())) <= width, (width, table)
        names = [h for hs in heads for h in hs]
        for column in ("accuracy", "TPA", "interval", "indep.", "Jaccard", "TV", "Sarle"):
            assert column in names, (width, column, heads)
        assert len(re.findall(r"\d\.\d\d–\d\.\d\d", table)) == 3, (width, table)


def test_networks_that_stopped_early_are_left_out_and_named(tmp_path):
    """A KILLED network with 3 of the 6 checkpoints the others have: analyze, examples, report and
    export leave it out (it would cut every curve back to its 3 checkpoints) and name it; with
    --include-interrupted it is analysed as it stands."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "cut", archs=("mlp",), seeds=3, n_checkpoints=6, n_examples=N_EX)
    [killed] = populate_store(store, "cut", archs=("cnn",), seeds=1, n_checkpoints=3, n_examples=N_EX, finish=False)
    store.end_run(killed, "KILLED")
    from orderlab.store import TAG_EPOCH
    store.client.set_tag(killed, TAG_EPOCH, "0.244186")     # a tag lagging behind the record, as after SIGKILL
    js = json.loads(run("analyze", "cut", "--json", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 3 and len(js["epoch"]) == 6 and list(js["groups"]) == ["mlp"]
    note = next(w for w in js["warnings"] if w.startswith("left out 1 network"))
    assert "cnn/s0 (KILLED at epoch 0.5 of 0.5)" in note and "orderlab sweep --resume cut" in note
    js = json.loads(run("analyze", "cut", "--json", "--include-interrupted", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 4 and len(js["epoch"]) == 3
    assert any("(3 not shared were dropped; fewest: cnn/s0 with 3" in w for w in js["warnings"]), js["warnings"]
    r = run("export", "cut", "-o", str(tmp_path / "all.npz"), "--include-interrupted", "--tracking-uri", uri)
    assert r.exit_code == 2 and "align them on the checkpoints they share (--align common)" in r.output, r.output
    r = run("export", "cut", "-o", str(tmp_path / "cut.npz"), "--align", "common", "--tracking-uri", uri)
    assert r.exit_code == 0 and "3 networks x 6 checkpoints" in r.stdout and "cnn/s0 (KILLED" in r.stderr, r.output
    r = run("report", "cut", "-o", str(tmp_path / "rep"), "--no-log", "--tracking-uri", uri)
    assert r.exit_code == 0 and "note: left out 1 network" in r.stderr, r.output
    assert "left out 1 network" in (tmp_path / "rep" / "report.md").read_text()
    r = run("examples", "cut", "--json", "--tracking-uri", uri)
    assert r.exit_code == 0 and "note: left out 1 network that stopped before finishing: cnn/s0" in r.stderr
    assert json.loads(r.stdout)
    r = run("examples", "cut", "--arch", "cnn", "--tracking-uri", uri)
    assert r.exit_code == 2 and "every network of study 'cut' to analyse stopped before finishing" in r.output
    assert "--include-interrupted" in r.output


def test_copies_of_one_network_in_two_studies_count_once(tmp_path):
    """A `sweep` under another --study of the seeds and settings a `train` already ran holds the same
    networks; pooled twice, copies would agree perfectly and the gap above independent networks
    would look far larger. Analysis counts each once, from the first study named, and says so; the
    TUI's side-by-side compare keeps both and says they are copies."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    base = ("--arch", "mlp", "--epochs", "1", "--train-subset", "200", "--test-subset", "100", "--quiet",
            "--tracking-uri", uri)
    for args in (("--study", "s1", "--seeds", "0-1"),
                 # recorded otherwise (more checkpoints, one split): still the same networks
                 ("--study", "s2", "--seeds", "0-2", "--record-every", "0.5", "--record-splits", "test"),
                 ("--study", "s3", "--seeds", "0", "--lr", "0.01"),           # trained otherwise: another network
                 ("--study", "s4", "--seeds", "0", "--lr", "0.01")):          # ... and its copy
        r = run("train", *base, *args)
        assert r.exit_code == 0, r.output
    js = json.loads(run("analyze", "s1", "s2", "--json", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 3
    assert ("2 networks of study 's2' (mlp/s0, mlp/s1) are the same as in study 's1' (same architecture, seed, "
            "data and training settings: not independent networks); each is counted once, from 's1'") \
        in js["warnings"], js["warnings"]
    js = json.loads(run("analyze", "s2", "s1", "--json", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 3 and any("of study 's1' (mlp/s0, mlp/s1) are the same as in study 's2'" in w
                                         for w in js["warnings"]), js["warnings"]
    js = json.loads(run("analyze", "s1", "s3", "--json", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 3 and not any("the same as in" in w for w in js["warnings"]), js["warnings"]
    # ... but drawn from one seed: kept, and said not to be independent
    assert ("s3:mlp/s0 shares architecture, seed and data with a network of 's1' (trained with other --lr): one "
            "seed draws one initialisation and data order, so they are not independent") in " ".join(js["warnings"])
    # a study whose networks all count from another is still one of those analysed
    js = json.loads(run("analyze", "s3", "s4", "--json", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 1 and js["study"] == "s3+s4", (js["study"], js["warnings"])
    # a copy counted once is not named again among them
    js = json.loads(run("analyze", "s1", "s3", "s4", "--json", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 3 and any(w.startswith("s3:mlp/s0 shares architecture") for w in js["warnings"]) \
        and not any("s4:mlp/s0 shares" in w or "s3:mlp/s0, s4" in w for w in js["warnings"]), js["warnings"]
    # A learner's stages are its checkpoints: an SGD learner recorded otherwise was trained otherwise.
    lbase = ("--arch", "logistic", "--seeds", "0", "--epochs", "2", "--train-subset", "200", "--test-subset", "100",
             "--quiet", "--tracking-uri", uri)
    for study, every in (("l1", "1"), ("l2", "0.5"), ("l3", "1")):
        assert run("train", *lbase, "--study", study, "--record-every", every).exit_code == 0
    js = json.loads(run("analyze", "l1", "l2", "l3", "--json", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 2 and any("of study 'l3' (logistic/s0) is the same as in study 'l1'" in w
                                         for w in js["warnings"]), js["warnings"]
    assert any(w.startswith("l2:logistic/s0 shares architecture, seed and data with a network of 'l1' (trained "
                            "with other --record-every)") for w in js["warnings"]), js["warnings"]
    r = CliRunner().invoke(app, ["analyze", "s3", "--tracking-uri", uri], env={"COLUMNS": "200"})   # no plural
    assert r.exit_code == 0 and "1 network (1 mlp) · 2 checkpoints" in r.stdout and "mlp (1 network)" in r.stdout, \
        r.output
    r = run("examples", "s1", "s2", "--tracking-uri", uri)
    assert r.exit_code == 0 and "are the same as in study 's1'" in r.stderr, r.output

    from orderlab.app.source import StudySource
    data = StudySource(uri).load(("s1", "s2"))
    assert data.stack.n_networks == 5
    assert any(n.startswith("s2:mlp/s0, s2:mlp/s1 are the same as in s1") for n in data.notes), data.notes
    notes = StudySource(uri).load(("s1", "s3")).notes
    assert not any("the same as in" in n for n in notes) and any(n.startswith("s3:mlp/s0 shares") for n in notes)
    assert not any("shares architecture" in n for n in StudySource(uri).load(("s1", "s2")).notes)


def test_a_report_of_architectures_on_other_grids_says_shared_and_reports_one_alone(tmp_path):
    """mlp recorded 6 checkpoints, cnn 3: the report keeps the 3 they share, and must not call the
    last of them mlp's "final" one; `report --arch mlp` reports mlp on its own 6 (and, unless
    asked, does not replace the study's report run in MLflow)."""
    from orderlab.analysis import figures as F
    from orderlab.analysis.summary import pick_checkpoints
    from orderlab.studydata import load_stack
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "grids", archs=("mlp",), seeds=3, n_checkpoints=6, n_examples=N_EX)
    populate_store(store, "grids", archs=("cnn",), seeds=3, n_checkpoints=3, n_examples=N_EX)
    r = run("report", "grids", "-o", str(tmp_path / "all"), "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    md = (tmp_path / "all" / "report.md").read_text()
    assert "At the last checkpoint all networks share (epoch 0.5)" in md
    st = load_stack(store, "grids", "test", align="common")
    titles = [ax.get_title() for ax in F.fig_histograms(st, pick_checkpoints(st)).axes]
    assert any("last shared" in t for t in titles) and not any("final" in t for t in titles), titles
    logged = store.report_runs("grids")
    r = run("report", "grids", "--arch", "mlp", "-o", str(tmp_path / "mlp"), "--tracking-uri", uri)
    assert r.exit_code == 0 and "logged as the report run" not in r.stdout, r.output
    # which it says: `report: …/report.md` alone left a user looking for the run in MLflow
    assert "files only: a report of some architectures is not logged to MLflow unless --log is given" in \
        " ".join(r.output.split()), r.output
    r = run("report", "grids", "--arch", "mlp", "--no-log", "-o", str(tmp_path / "mlp2"), "--tracking-uri", uri)
    assert r.exit_code == 0 and "files only" not in r.output, r.output          # as asked: nothing to say
    md = (tmp_path / "mlp" / "report.md").read_text()
    assert "# orderlab report: grids (mlp)" in md and "At the last checkpoint (epoch 1.25)" in md
    assert store.report_runs("grids") == logged                 # the study's report run stays
    r = run("report", "grids", "--arch", "vgg", "-o", str(tmp_path / "vgg"), "--tracking-uri", uri)
    assert r.exit_code == 2 and "no network of architecture vgg" in r.output, r.output


@pytest.mark.parametrize("n_ckpt, shown", [(9, 9), (30, 12)])
def test_analyze_tables_show_every_checkpoint_or_say_which(tmp_path, n_ckpt, shown):
    """9 checkpoints (2 epochs every quarter) were thinned to 8 rows, epoch 1 missing, without a word."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "long", archs=("mlp",), seeds=3, n_checkpoints=n_ckpt, n_examples=50)
    r = CliRunner().invoke(app, ["analyze", "long", "--no-intervals", "--tracking-uri", uri], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    table = r.stdout.split("mlp (3 networks) over training")[1].split("TPA: share")[0]
    rows = [line for line in table.splitlines() if re.match(r"^│\s+\d", line)]
    js = json.loads(CliRunner().invoke(app, ["analyze", "long", "--no-intervals", "--json", "--tracking-uri", uri]).stdout)
    # evenly spaced, and the early and middle checkpoints (where small data is learned) among them
    want = sorted({int(round(x)) for x in np.linspace(0, n_ckpt - 1, shown)} | set(js["checkpoints"].values()))
    assert [float(row.split("│")[1].strip(" ◂")) for row in rows] == \
        [float(f"{js['epoch'][i]:.3g}") for i in want], table
    note = f"{len(want)} of the {n_ckpt} checkpoints shown: evenly spaced, and those a third and two thirds"
    assert (note in " ".join(r.stdout.split())) == (shown < n_ckpt), r.stdout


def test_one_network_per_architecture_is_not_shown_as_agreement(tmp_path):
    """With one network, TPA is 1 and its split-half order rho 1 by construction: the tables say so
    instead of printing them as results."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "solo", archs=("mlp", "cnn"), seeds=1, n_checkpoints=4, n_examples=60)
    r = CliRunner().invoke(app, ["analyze", "solo", "--tracking-uri", uri], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    out = " ".join(r.stdout.split())
    for a in ("mlp", "cnn"):
        assert f"note: {a} has one network: its TPA, independent TPA and Jaccard are 1" in out, out
    order = r.stdout.split("learning order: Spearman")[1].split("learning order: overlap")[0]
    assert order.count("– (1 network)") == 2 and "1.000" not in order, order
    assert re.search(r"│ mlp\s+│\s+-?\d\.\d{3} │ – \(1 network\) │", order), order       # across is a result
    assert out.count("has one network") == 2 and "have one network" not in out, out      # said once, per table
    # the JSON says it too, as its warnings say everything else
    js = json.loads(CliRunner().invoke(app, ["analyze", "solo", "--json", "--tracking-uri", uri]).stdout)
    assert "cnn, mlp have one network: TPA, independent TPA and Jaccard are 1" in " ".join(js["warnings"]), js
    # a study of one network: its scatter was the network against itself ("rho 1.00"), a tie note
    # spoke of an overlap it has no second group for
    populate_store(Store(uri), "one", archs=("mlp",), seeds=1, n_checkpoints=4, n_examples=60)
    js = json.loads(CliRunner().invoke(app, ["analyze", "one", "--json", "--tracking-uri", uri]).stdout)
    assert js["warnings"] == ["mlp has one network: its TPA, independent TPA and Jaccard are 1 and its histogram "
                              "has two bars by construction; agreement needs two or more."], js["warnings"]
    from orderlab.analysis import figures as F
    from orderlab.studydata import load_stack
    [ax] = F.fig_accessibility(load_stack(Store(uri), "one")).axes
    assert ax.get_title().startswith("1 network: no second group") and "ρ" not in ax.get_title()


def test_examples_of_many_architectures_fit_the_terminal(tmp_path, monkeypatch):
    """Seven architectures at 80 columns: the example id and label were cut to "4…" while the
    architecture columns kept their width; they now continue in further tables."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    archs = ("adaboost", "gradient-boosting", "knn", "logistic", "mlp", "random-forest", "svm")
    populate_store(Store(uri), "seven", archs=archs, seeds=2, n_checkpoints=4, n_examples=5000, seed=1)
    monkeypatch.setenv("COLUMNS", "80")
    r = run("examples", "seven", "--hardest", "4", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    boxed = [line for line in lines if line[:1] in "┏┃┡│└"]      # prose is left whole outside a terminal
    assert max(map(len, boxed)) <= 80 and "…" not in r.stdout, r.stdout
    heads = " ".join(line for line in lines if line.startswith("┃"))
    assert all(a in heads for a in archs) and heads.count("example id") > 1, r.stdout
    ids = [str(x["example_id"]) for x in json.loads(run("examples", "seven", "--hardest", "4", "--json",
                                                           "--tracking-uri", uri).stdout)]
    body = [line for line in lines if line.startswith("│")]
    assert all(any(f"│ {i} │" in " ".join(b.split()) for b in body) for i in ids), r.stdout


def test_export_keeps_to_the_architectures_asked_for_on_their_own_checkpoints(tmp_path):
    """A study mixing a learner's 8 stages with an mlp's 5 checkpoints: export refused it (strict)
    or kept the shared ones only (common), and had no --arch to take the learner whole."""
    from orderlab.synthetic import synthetic_record
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    store = Store(uri)
    populate_store(store, "mixed", archs=("mlp",), seeds=2, n_checkpoints=5, n_examples=60, seed=2)
    exp, parent = store.experiment_id("mixed"), store.study_parent("mixed")
    first = store.load_record(store.list_runs("mixed")[0])
    for seed in (0, 1):
        run_id, art = store.create_network_run("mixed", parent, exp, arch="adaboost", seed=seed,
                                               dataset="synthetic", epochs=7.0, params={})
        rec = synthetic_record(np.random.default_rng(seed).random((8, 60)) < 0.6, labels=first.splits["test"].label,
                               meta={"run_id": run_id, "arch": "adaboost", "seed": seed}, epochs=np.arange(8.0),
                               seed=seed, fingerprint=first.splits["test"].fingerprint)
        store.write_record(run_id, rec, art)
        store.set_tags(run_id, {"orderlab.checkpoints": "8", "orderlab.epoch": "7"})
        store.end_run(run_id, "FINISHED")
    # without --arch: refused, naming the way out each architecture alone gives
    r = run("export", "mixed", "-o", str(tmp_path / "all.npz"), "--tracking-uri", uri)
    assert r.exit_code == 2 and "(mlp/s0, mlp/s1 differ from the first); align them on the checkpoints " \
        "they share (--align common) or one architecture alone on its own checkpoints (--arch NAME)" in r.stderr, r.output
    r = run("export", "mixed", "-o", str(tmp_path / "ada.npz"), "--arch", "adaboost", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "ada.npz")
    assert set(z["arch"].tolist()) == {"adaboost"} and z["epoch"].tolist() == list(range(8))
    bad = run("export", "mixed", "-o", str(tmp_path / "x.npz"), "--arch", "knn", "--tracking-uri", uri)
    assert bad.exit_code == 2 and "no network of architecture knn in mixed (architectures: adaboost, mlp)" in bad.stderr
    # examples reads each network's own checkpoints, all of them: the notes of the shared ones (aligned
    # on 1, adaboost's numbers "of partly trained networks") said what its numbers are not
    r = run("examples", "mixed", "--easiest", "3", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note: ")]
    assert notes == ["note: the networks recorded different checkpoints: accessibility and learned-at use all of "
                     "each network's own checkpoints"], r.stderr
    assert "accessibility: mean over the networks of the share of their trained checkpoints" in " ".join(r.stdout.split())
    r = run("analyze", "mixed", "--tracking-uri", uri)         # its TPA is of the shared ones: said so
    assert r.exit_code == 0 and "note: aligned on " in r.output, r.output


def test_networks_planned_without_a_run_are_named_by_analyze_and_runs(tmp_path):
    """A study whose train planned seeds 0-2 has recorded seed 0 alone (the command still training, or
    stopped): `analyze` and `runs` said nothing of the two to come (a user took "1 network" for the
    study). Both name them; the fix is the resume that starts them; with --arch, only its networks."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "part", archs=("mlp", "cnn"), seeds=1, n_checkpoints=N_CKPT, n_examples=N_EX, seed=0)
    r = run("analyze", "part", "--tracking-uri", uri)
    assert r.exit_code == 0 and "planned" not in r.stderr + r.stdout, r.output
    store.write_sweep_plan("part", {"archs": ["mlp", "cnn"], "seeds": [0, 1, 2], "epochs": 2})
    r = run("analyze", "part", "--json", "--tracking-uri", uri)
    [note] = [w for w in json.loads(r.stdout)["warnings"] if "planned" in w]
    assert note.startswith("4 more networks planned for study 'part' (cnn/s1, cnn/s2, mlp/s1, mlp/s2) have no run: "
                           "if the command that planned them has stopped, `orderlab sweep --resume part "), note
    r = run("analyze", "part", "--arch", "mlp", "--json", "--tracking-uri", uri)
    assert "2 more networks planned for study 'part' (mlp/s1, mlp/s2)" in " ".join(json.loads(r.stdout)["warnings"])
    r = run("runs", "part", "--tracking-uri", uri)
    assert r.exit_code == 0 and "note: 4 more networks planned for study 'part'" in r.stderr, r.output
    # while a network trains, the others are still to come
    store.client.update_run(store.list_runs("part")[0].run_id, status="RUNNING")
    store.set_tags(store.list_runs("part")[0].run_id, {"orderlab.heartbeat": "9e12"})
    r = run("runs", "part", "--tracking-uri", uri)
    assert "have not started yet: what is shown covers the networks recorded so far" in r.stderr, r.output


def test_a_study_with_no_recorded_network_is_told_what_to_do(tmp_path):
    """A study with nothing recorded was told to `train --study S` (refused: no --arch) whatever its
    state: its networks training, planned by a sweep stopped before its first, or stopped before a
    checkpoint. A study whose command stopped before its parent run was "created by another tool";
    `runs` said nothing of networks planned where the study had no run at all."""
    from conftest import assert_one_line_error
    from orderlab.store import TAG_KIND
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    exp, parent = store.get_or_create_study("s", "synthetic", "x", {"dataset": "synthetic"})
    for cmd in ("analyze", "export", "examples"):
        extra = ["-o", str(tmp_path / "s.npz")] if cmd == "export" else []
        assert_one_line_error(run(cmd, "s", *extra, "--tracking-uri", uri),
                              "study 's' has no recorded network yet; train one with `orderlab train --arch NAME "
                              "--study s --tracking-uri")
    store.write_sweep_plan("s", {"archs": ["mlp"], "seeds": [0, 1], "epochs": 2})
    assert_one_line_error(run("analyze", "s", "--tracking-uri", uri),
                          "networks are planned for it with no run", "`orderlab sweep --resume s --tracking-uri")
    r = run("runs", "s", "--tracking-uri", uri)
    assert r.exit_code == 0 and "note: 2 more networks planned for study 's' (mlp/s0, mlp/s1)" in r.stderr, r.output
    run_id, _ = store.create_network_run("s", parent, exp, arch="mlp", seed=0, dataset="synthetic", epochs=2.0,
                                         params={})
    assert_one_line_error(run("analyze", "s", "--tracking-uri", uri),
                          "its networks are training and have recorded no checkpoint; try again once they have")
    store.end_run(run_id, "KILLED")
    import shutil
    shutil.rmtree(store._artifact_dir(parent) / "sweeps")                          # no plan left
    assert_one_line_error(run("analyze", "s", "--tracking-uri", uri),
                          "its networks stopped before their first checkpoint; `orderlab sweep --resume s")
    store.client.create_experiment("half", tags={TAG_KIND: "study"})              # stopped before its parent run
    for args in (("sweep", "--resume", "half"), ("analyze", "half"), ("examples", "half")):
        assert_one_line_error(run(*args, "--tracking-uri", uri),
                              "study 'half' holds nothing yet: the command that made it was interrupted before it "
                              "planned any network; run that command again")


def test_the_planned_networks_note_never_stops_a_command(tmp_path, monkeypatch):
    """The plans are read from the study's parent run: a study whose parent run was deleted (or a
    server's hiccup) made `runs` and `analyze` fail after the note was added. A note only: left out."""
    from orderlab.store import StoreError
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "np", archs=("mlp",), seeds=2, n_checkpoints=N_CKPT, n_examples=N_EX, seed=0)

    def gone(self, study):
        raise StoreError(f"study {study!r} holds nothing yet")
    monkeypatch.setattr(Store, "study_parent", gone)
    for args in (("runs", "np"), ("analyze", "np")):
        r = run(*args, "--tracking-uri", uri)
        assert r.exit_code == 0 and "parent run" not in r.output, r.output


def test_export_leaves_out_the_note_on_networks_that_end_apart(tmp_path, monkeypatch):
    """The note that some networks end at other epochs is about measures over each network's own
    checkpoints (accessibility, learning orders): the exported file holds the common checkpoints
    only, so `export` leaves that note out and keeps the alignment note."""
    from orderlab import studydata
    from orderlab.analysis.stack import UNEVEN_ENDS, Stack
    from orderlab.synthetic import synthetic_correct, synthetic_record
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "apart", archs=("mlp",), seeds=1, n_checkpoints=3, n_examples=N_EX)
    labels = np.random.default_rng(0).integers(0, 10, N_EX)
    corr = synthetic_correct(3, 9, N_EX, seed=2)
    recs = [({"run_id": f"m{j}", "arch": "mlp", "seed": j},
             synthetic_record(corr[j] if j < 2 else corr[j][:4], labels=labels, meta={},
                              epochs=np.arange(9.0) if j < 2 else np.arange(4.0), seed=j)) for j in range(3)]
    stack = Stack.from_records(recs, split="test", align="common", keep_predicted=True)
    assert any(UNEVEN_ENDS in w for w in stack.warnings)            # what analyze would say
    monkeypatch.setattr(studydata, "load_stack", lambda *a, **k: stack)
    r = run("export", "apart", "-o", str(tmp_path / "a.npz"), "--align", "common", "--tracking-uri", uri)
    assert r.exit_code == 0 and "3 networks x 4 checkpoints" in r.stdout, r.output
    assert UNEVEN_ENDS not in r.stderr and "warning: aligned on 4 common checkpoints" in r.stderr, r.stderr


def test_networks_with_no_checkpoint_recorded_are_named_not_dropped(tmp_path):
    """A network killed before its first checkpoint was left out of `analyze` without a word (the
    README says networks that stopped are named); one still starting is named too; and a killed
    network whose progress tag lags its record (0, the record holding 2) is read from its record."""
    from orderlab.store import TAG_CHECKPOINTS
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "zero", archs=("mlp",), seeds=2, n_checkpoints=4, n_examples=N_EX)
    exp, parent = store.experiment_id("zero"), store.study_parent("zero")
    killed, _ = store.create_network_run("zero", parent, exp, arch="cnn", seed=1, dataset="synthetic", epochs=1.0,
                                         params={})
    store.end_run(killed, "KILLED")
    store.create_network_run("zero", parent, exp, arch="cnn", seed=2, dataset="synthetic", epochs=1.0, params={})
    r = run("analyze", "zero", "--tracking-uri", uri)
    assert r.exit_code == 0, r.output
    err = " ".join(r.output.split())
    assert "cnn/s2 has recorded no checkpoint yet: not in the analysis until it does" in err, err
    assert "left out 1 network that stopped before recording any checkpoint: cnn/s1 (KILLED); " \
           "`orderlab sweep --resume zero --tracking-uri" in err, err
    # a killed network whose progress tag says 0 while its record holds checkpoints: read, and left
    # out as any interrupted network is (named with where it stopped), or included on request
    [lag] = populate_store(store, "lag", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=N_EX, finish=False)
    populate_store(store, "lag", archs=("cnn",), seeds=2, n_checkpoints=4, n_examples=N_EX)
    store.client.set_tag(lag, TAG_CHECKPOINTS, "0")
    store.end_run(lag, "KILLED")
    r = run("analyze", "lag", "--tracking-uri", uri)
    assert r.exit_code == 0 and "mlp/s0 (KILLED at epoch 0.25 of 0.25)" in " ".join(r.output.split()), r.output
    js = json.loads(run("analyze", "lag", "--json", "--include-interrupted", "--tracking-uri", uri).stdout)
    assert js["n_networks"] == 3
    # studies compared: each network named with its study
    r = run("analyze", "zero", "lag", "--align", "common", "--tracking-uri", uri)
    assert r.exit_code == 0 and "zero:cnn/s2 has recorded no checkpoint yet" in " ".join(r.output.split()), r.output


def test_output_to_a_pipe_keeps_each_note_and_footer_on_one_line(uri):
    """Written to a file or a pipe (no terminal to fit), a sentence is never cut across lines: rich's
    80 columns used to wrap notes and footers mid-phrase."""
    js = json.loads(run("analyze", "syn", "short", "--align", "common", "--json", "--tracking-uri", uri).stdout)
    long_notes = [w for w in js["warnings"] if len(w) > 90]
    assert long_notes, js["warnings"]
    lines = run("analyze", "syn", "short", "--align", "common", "--tracking-uri", uri).stdout.splitlines()
    for w in js["warnings"]:
        assert f"note: {w}" in lines
    assert any(ln.startswith("TPA: share of examples") and ln.endswith("read it with TV.") for ln in lines), lines
    lines = run("examples", "syn", "--easiest", "3", "--tracking-uri", uri).stdout.splitlines()
    assert any(ln.startswith("accessibility: mean over the networks") and ln.endswith("never keep it right).")
               for ln in lines), lines
