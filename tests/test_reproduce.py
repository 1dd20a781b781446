"""`orderlab reproduce`: recipe parsing, and a tiny custom recipe run end to end (twice: reuse)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.errors import OrderlabError
from orderlab.reproduce import CHECK_KINDS, builtin_recipes, load_recipe

TINY = """
name = "tiny"
title = "Tiny end-to-end recipe"
claim = "Two networks and a learner on a digits subset."

[[studies]]
key = "digits"
dataset = "digits"
archs = ["mlp", "knn"]
train_subset = 300
test_subset = 150
record_splits = ["train", "test"]
demo = { seeds = "0-1" }
paper = { seeds = "0-99" }
arch.mlp = { epochs = 2, record_every = 0.5 }
arch.knn = { epochs = 4 }

[[studies]]
key = "gauss"
dataset = "gaussians:dim=4,classes=3,n=150,test=90"
archs = ["logistic"]
seeds = "0-1"
epochs = 3
record_splits = ["test"]

[[studies]]
key = "big"
scales = ["paper"]
dataset = "cifar10"
archs = ["st-vgg"]
seeds = "0-99"

[[checks]]
kind = "agreement"
study = "digits"
arch = "mlp"
claim = "mlp agree"

[[checks]]
kind = "bimodal"
study = "digits"
arch = "mlp"
claim = "mlp bimodal"

[[checks]]
kind = "order"
study = "digits"
arch = "mlp"
split = "train"
claim = "mlp order"

[[checks]]
kind = "across"
study = "digits"
archs = ["knn", "mlp"]
claim = "knn then mlp"

[[checks]]
kind = "paradigm"
study = "digits"
reference_arch = "mlp"
claim = "knn differs"

[[checks]]
kind = "control"
study = "gauss"
arch = "logistic"
reference_study = "digits"
reference_arch = "mlp"
claim = "gaussians differ"

[[checks]]
kind = "agreement"
study = "big"
claim = "only at paper scale"
"""


def test_builtin_recipes_parse_at_both_scales(tmp_path):
    names = set()
    for path in builtin_recipes():
        for scale in ("demo", "paper"):
            r = load_recipe(path, scale)
            assert r.studies and r.checks, path
            assert all(p.study.startswith(f"{scale}-{r.name}-") for p in r.studies)
            assert all(c["kind"] in CHECK_KINDS for c in r.checks)
        names.add(r.name)
    assert {"within", "across", "synthetic", "text", "paradigms"} <= names
    paper = load_recipe([p for p in builtin_recipes() if p.stem == "within"][0], "paper")
    assert "cifar10" in {p.dataset for p in paper.studies}
    demo = load_recipe([p for p in builtin_recipes() if p.stem == "within"][0], "demo")
    assert "cifar10" not in {p.dataset for p in demo.studies}
    # the summary names the paper-only studies and the command that runs a built-in recipe's
    from orderlab.reproduce import write_summary
    out = write_summary(tmp_path, "demo", "orderlab reproduce", [{"recipe": demo, "verdicts": [], "rows": [],
                                                                  "reports": {}, "figures": []}], 1.0)
    assert "`cifar10-stvgg (cifar10, st-vgg)`" in out.read_text()
    assert "`orderlab reproduce --scale paper --only within` runs them" in out.read_text()


def test_recipe_errors(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text(TINY)
    r = load_recipe(f, "demo")
    assert [p.key for p in r.studies] == ["digits", "gauss"] and len(r.checks) == 6    # "big" is paper-only
    assert r.studies[0].options_for("mlp")["epochs"] == 2.0 and r.studies[0].seeds == "0-1"
    assert load_recipe(f, "paper").studies[0].seeds == "0-99"
    cases = [
        (TINY.replace("train_subset = 300", "train_subsett = 300"), "unknown setting 'train_subsett'"),
        (TINY.replace('kind = "bimodal"', 'kind = "magic"'), "check kind 'magic'"),
        (TINY.replace('reference_study = "digits"', 'reference_study = "nope"'), "does not define"),
        (TINY.replace("test_subset = 150", "test_subset = \"many\""), "must be a int"),
        ("name = 'x'\n", "defines no study"),
        # a bad seed list names where it is, as the other settings' errors do
        (TINY.replace('demo = { seeds = "0-1" }', 'demo = { seeds = "zero" }'),
         "study 1 (digits): bad seed list 'zero'"),
        # a check naming what its recipe does not train is refused before anything trains
        (TINY.replace('archs = ["knn", "mlp"]', 'archs = ["knn", "cnn"]'),
         "check 4 (across): names architecture 'cnn', which study 'digits' does not train (it trains mlp, knn)"),
        (TINY.replace('reference_arch = "mlp"\nclaim = "gaussians', 'reference_arch = "logistic"\nclaim = "gaussians'),
         "check 6 (control): names architecture 'logistic', which study 'digits' does not train"),
        # a control without reference_arch compares the check's architecture in the reference study
        (TINY.replace('reference_arch = "mlp"\nclaim = "gaussians', 'claim = "gaussians'),
         "check 6 (control): names architecture 'logistic', which study 'digits' does not train"),
        (TINY.replace('archs = ["knn", "mlp"]', 'archs = ["knn", "mlp", "knn"]'), "names the two architectures"),
        (TINY.replace('archs = ["knn", "mlp"]', 'archs = "knn"'), "archs must be a list of architecture names"),
        (TINY.replace('arch = "mlp"\nclaim = "mlp agree"', 'arch = "mlp"\nat = 99\nclaim = "mlp agree"'),
         "check 1 (agreement): at = 99 is outside the training of mlp in study 'digits' (epochs 0 to 2)"),
        (TINY.replace('arch = "mlp"\nclaim = "mlp agree"', 'at = 3\nclaim = "mlp agree"'),   # the study's first arch
         "at = 3 is outside the training of mlp"),
        (TINY.replace('arch = "mlp"\nclaim = "mlp agree"', 'arch = "mlp"\nat = "late"\nclaim = "mlp agree"'),
         "at = 'late'; use early, middle, final or an epoch number"),
        (TINY.replace('study = "digits"\narch = "mlp"\nclaim = "mlp bimodal"', 'arch = "mlp"\nclaim = "mlp bimodal"'),
         "check 2 (bimodal): needs study = \"KEY\" (one of the recipe's studies: digits, gauss)"),
        ("name = [", "not valid TOML"),
        # a misspelt threshold was ignored, and the verdict used the default
        (TINY.replace('arch = "mlp"\nclaim = "mlp agree"', 'arch = "mlp"\nmin_gp = 0.9\nclaim = "mlp agree"'),
         "check 1 (agreement): unknown setting 'min_gp'; valid: kind, study,"),
        # two studies with one key: checks and the study's MLflow name took the first
        (TINY.replace('key = "gauss"', 'key = "digits"'),
         "study key 'digits' is used by more than one study at --scale demo; give each study its own key"),
        # a misspelt learner's table left the learner on its defaults, unsaid
        (TINY.replace('arch.knn = { epochs = 4 }', 'arch.knnn = { epochs = 4 }'),
         "(digits): [arch.knnn] names no architecture of the study (archs: knn, mlp); fix its name, or add it to archs"),
        # a key that cannot name the study's folder was listed by --list, refused only when run
        (TINY.replace('key = "gauss"', 'key = "a/b"'), "study 2 ('a/b'): bad study name 'demo-tiny-a/b'"),
        (TINY.replace('key = "gauss"', f'key = "{"g" * 200}"'), "at most 200 bytes; change its key"),
        # values of the wrong type crashed with a traceback, or were taken as their str()
        (TINY.replace("arch.knn = { epochs = 4 }", "arch.knn = 5"), "study 1: arch must hold one table of settings"),
        (TINY.replace("arch.mlp = { epochs = 2, record_every = 0.5 }\narch.knn = { epochs = 4 }", "arch = 5"),
         "study 1: arch must hold one table of settings per architecture"),
        (TINY.replace("arch.knn = { epochs = 4 }", "arch.knn = { demo = 5 }"),
         "study 1: [arch.knn.demo] must be a table of settings"),
        (TINY.replace('scales = ["paper"]', "scales = [[1]]"), "study 3: scales must be a list of demo/paper"),
        (TINY.split("[[checks]]")[0].replace('name = "tiny"', 'name = "tiny"\nchecks = [5]'),
         "checks must be an array of tables ([[checks]]; got [5])"),       # dropped without a word
        (TINY.replace('key = "gauss"', 'key = ["gauss"]'), "study 2: key must be a string (got ['gauss'])"),
        (TINY.replace('name = "tiny"', "name = 5"), "name must be a string (got 5)"),
        (TINY.replace('title = "Tiny end-to-end recipe"', "title = [1]"), "title must be a string"),
        ('name = "x"\nstudies = 5\n', "studies must be an array of tables ([[studies]]); got 5"),
    ]
    for text, message in cases:
        f.write_text(text)
        with pytest.raises(OrderlabError, match=re.escape(message)):
            load_recipe(f, "demo")
    # a table for an architecture only the other scale trains is that scale's, not a typo
    f.write_text(TINY.replace('paper = { seeds = "0-99" }', 'paper = { seeds = "0-99", archs = ["mlp", "knn", "cnn"] }')
                 .replace('arch.knn = { epochs = 4 }', 'arch.knn = { epochs = 4 }\narch.cnn = { epochs = 3 }'))
    assert load_recipe(f, "demo").studies[0].archs == ["mlp", "knn"]
    assert load_recipe(f, "paper").studies[0].options_for("cnn")["epochs"] == 3.0
    with pytest.raises(OrderlabError, match="unknown scale"):
        load_recipe(f, "huge")


def test_reproduce_custom_recipe_end_to_end(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY)
    runner = CliRunner()
    listed = runner.invoke(app, ["reproduce", "--recipe", str(recipe), "--list"])
    assert listed.exit_code == 0 and "demo-tiny-digits: mlp, knn x seeds 0-1 on digits" in listed.output
    assert "not at --scale demo: big (cifar10, st-vgg)" in listed.output
    res = runner.invoke(app, ["reproduce", "--recipe", str(recipe), "--out", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 0, res.output
    report = (tmp_path / "out" / "report.md").read_text()
    for claim in ("mlp agree", "mlp bimodal", "mlp order", "knn then mlp", "knn differs", "gaussians differ"):
        assert re.search(rf"\*\*{claim}\*\*: (yes|no|undecided), ", report), claim
    assert "**only at paper scale**" not in report
    # ... but the report says what the demo left out, so its verdicts are not taken for the whole test
    assert ("- Not run at --scale demo (`scales = [\"paper\"]`): `big (cifar10, st-vgg)` and 1 check on it "
            f"(only at paper scale); `orderlab reproduce --scale paper --recipe {recipe.resolve()}` runs them.") in report, \
        report
    # the across verdict names whose accuracy is whose, and says when the "stronger" is not
    line = re.search(r"\*\*knn then mlp\*\*: [^\n]*", report).group(0)
    fm, fk = map(float, re.search(r"final accuracy mlp (\d\.\d\d), knn (\d\.\d\d)", line).groups())
    if fm != fk:
        assert ("mlp, named the stronger, ends less accurate" in line) == (fm < fk), line
    # its shares as the JSON has them: never "100%" (nor "0%") for a share short of it
    from orderlab.errors import share_text
    across = next(v for v in json.loads((tmp_path / "out" / "verdicts.json").read_text())[0]["verdicts"]
                  if v["claim"] == "knn then mlp")["numbers"]
    assert f"mlp gets {share_text(across['contain'])} of what knn gets right, plus {share_text(across['extra'])} " \
        in line, line
    # the control verdict names the architecture on each side
    assert re.search(r"\*\*gaussians differ\*\*: \w+, excess agreement [\d.]+ on gaussians\S* \(logistic\) vs [\d.]+ on "
                     r"digits \(mlp\); test, middle;", report), report
    assert "| tiny | digits | mlp | 2 |" in report and "| tiny | digits | knn | 2 |" in report
    # the side-by-side table names each row's positions: a learner's middle checkpoint is a stage
    assert "| middle (acc) |" in report and re.search(r"\| tiny \| digits \| knn \| 2 \| [\d.]+ \| stage [\d.]+ \(", report)
    assert re.search(r"\| tiny \| digits \| mlp \| 2 \| [\d.]+ \| epoch [\d.]+ \(", report), report
    # k-NN on the whole training set is the same whatever the seed: its final TPA of 1 is marked so
    knn = next(line for line in report.splitlines() if line.startswith("| tiny | digits | knn |"))
    assert "| 1.000 † |" in knn and "TPA 1 by construction, not agreement learned" in report, knn
    mlp = next(line for line in report.splitlines() if line.startswith("| tiny | digits | mlp |"))
    assert "†" not in mlp, mlp
    verdicts = json.loads((tmp_path / "out" / "verdicts.json").read_text())
    agree = verdicts[0]["verdicts"][0]
    assert agree["verdict"] in ("yes", "no") and 0 <= agree["numbers"]["tpa"] <= 1
    # the paradigm check measures each learner against the noise ceiling √(ρ_mlp · ρ_learner), not
    # against the mlp's own ρ alone (a learner with a noisy order of its own passed by its noise)
    para = next(v for v in verdicts[0]["verdicts"] if v["claim"] == "knn differs")["numbers"]
    assert para["ceiling_knn"] == pytest.approx(np.sqrt(max(para["within"], 0) * max(para["within_knn"], 0)))
    assert para["gap"] == pytest.approx(para["ceiling_knn"] - para["spearman_knn"])
    assert re.search(r"\*\*knn differs\*\*: (yes|no|undecided), order Spearman with mlp: knn [\d.-]+ \(ceiling "
                     r"[\d.]+\); mean [\d.-]+ below the ceilings \(margin 0.10\)", report), report
    # mlp (epochs) and knn (training fractions) share no checkpoint grid: one report each.
    assert (tmp_path / "out" / "tiny" / "digits" / "mlp" / "report.md").exists()
    assert (tmp_path / "out" / "tiny" / "gauss" / "report.md").exists()

    from orderlab.store import Store
    store = Store()
    n_runs = len(store.list_runs("demo-tiny-digits"))
    assert n_runs == 4
    # each study's report is its report run in MLflow (figures for the MLflow UI), as `orderlab report`
    # logs it: one report per architecture in a folder each, with an epoch series each
    from mlflow.tracking import MlflowClient
    client = MlflowClient(store.uri)
    [digits_report] = store.report_runs("demo-tiny-digits")
    listed = {f.path for f in client.list_artifacts(digits_report, "report")}
    assert listed == {"report/mlp", "report/knn"}, listed
    assert "report/knn/tpa_test.png" in {f.path for f in client.list_artifacts(digits_report, "report/knn")}
    run = client.get_run(digits_report)
    assert {"test_tpa/mlp", "test_tpa/knn", "epoch/mlp", "epoch/knn"} <= set(run.data.metrics)
    assert run.data.params["made_by"] == "orderlab reproduce" and run.data.params["archs"] == "mlp,knn"
    [gauss_report] = store.report_runs("demo-tiny-gauss")
    assert {"report/report.md", "report/tpa_test.png"} <= {f.path for f in client.list_artifacts(gauss_report, "report")}
    # an earlier run of another recipe into the same folder left its study reports: named, kept
    (tmp_path / "out2" / "mine" / "k" / "cnn").mkdir(parents=True)
    (tmp_path / "out2" / "mine" / "k" / "cnn" / "report.md").write_text("earlier")
    again = runner.invoke(app, ["reproduce", "--recipe", str(recipe), "--out", str(tmp_path / "out2"), "-q",
                                    "--summary-only"])
    assert again.exit_code == 0, again.output
    assert "reusing 2 finished networks" in again.output
    assert len(store.list_runs("demo-tiny-digits")) == n_runs                # nothing trained again
    assert store.report_runs("demo-tiny-digits") == [digits_report]        # --summary-only: no report to log
    nolog = runner.invoke(app, ["reproduce", "--recipe", str(recipe), "--out", str(tmp_path / "out3"), "-q", "--no-log"])
    assert nolog.exit_code == 0 and (tmp_path / "out3" / "tiny" / "gauss" / "report.md").exists(), nolog.output
    assert store.report_runs("demo-tiny-gauss") == [gauss_report]           # --no-log: files only
    assert (tmp_path / "out2" / "report.md").exists() and not (tmp_path / "out2" / "tiny").exists()
    summary = (tmp_path / "out2" / "report.md").read_text()
    # the study lines link no report where none was written (a bare " — " ended each)
    studies = [ln for ln in summary.splitlines() if ln.startswith("- `demo-tiny-")]
    assert studies and not any(ln.rstrip().endswith("—") for ln in studies), studies
    assert "from an earlier run of other recipes: `mine/`" in summary and "earlier" == \
        (tmp_path / "out2" / "mine" / "k" / "cnn" / "report.md").read_text()
    assert "Not part of this report" not in report


def test_reproduce_unknown_only():
    res = CliRunner().invoke(app, ["reproduce", "--only", "nosuch", "--list"])
    assert res.exit_code != 0


def test_a_recipe_changed_after_its_networks_were_trained_names_the_recipe_fix(tmp_path):
    """The study then holds networks trained with the old settings. reproduce has no --study: the fix
    it names is another key in the recipe (or another store), not an option it lacks."""
    from conftest import assert_one_line_error
    recipe = tmp_path / "tweak.toml"
    one = 'name = "tweak"\n[[studies]]\nkey = "gauss"\ndataset = "gaussians:dim=4,classes=3,n=150,test=90"\n' \
          'archs = ["logistic"]\nseeds = "0-1"\nrecord_splits = ["test"]\nepochs = {}\n'
    recipe.write_text(one.format(3))
    runner = CliRunner()
    res = runner.invoke(app, ["reproduce", "--recipe", str(recipe), "--out", str(tmp_path / "a"), "-q",
                              "--summary-only"])
    assert res.exit_code == 0, res.output
    recipe.write_text(one.format(4))
    err = assert_one_line_error(runner.invoke(app, ["reproduce", "--recipe", str(recipe), "--out", str(tmp_path / "b"),
                                                    "-q", "--summary-only"]),
                                "study 'demo-tweak-gauss' already has logistic/s0", "epochs=3", "asked: 4",
                                "give this study ('gauss') another key in the recipe", "--tracking-uri")
    assert "--study" not in err


def test_missing_data_is_found_before_anything_trains(tmp_path):
    """A recipe whose second study's data is missing: one line naming the data, the fix and the
    recipes that can run alone; no network trained, no output folder made."""
    from conftest import assert_one_line_error
    from orderlab.store import Store
    ok = tmp_path / "fine.toml"
    ok.write_text('name = "fine"\n[[studies]]\nkey = "g"\ndataset = "gaussians:dim=4,classes=3,n=150,test=90"\n'
                  'archs = ["logistic"]\nseeds = "0-1"\nepochs = 2\n')
    bad = tmp_path / "lacks.toml"
    bad.write_text('name = "lacks"\n[[studies]]\nkey = "g"\ndataset = "gaussians:dim=4,classes=3,n=150,test=90"\n'
                   'archs = ["logistic"]\nseeds = "0-1"\nepochs = 2\n'
                   f'[[studies]]\nkey = "gone"\ndataset = "npz:{tmp_path / "absent.npz"}"\narchs = ["logistic"]\n'
                   'seeds = "0-1"\nepochs = 2\n'
                   f'[[studies]]\nkey = "also"\ndataset = "npz:{tmp_path / "absent2.npz"}"\narchs = ["logistic"]\n'
                   'seeds = "0-1"\nepochs = 2\n')
    res = CliRunner().invoke(app, ["reproduce", "--recipe", str(ok), "--recipe", str(bad), "--out",
                                   str(tmp_path / "out"), "-q"])
    # every missing dataset is named, not only the first (fixing it would only lead to the next)
    assert_one_line_error(res, "recipe lacks cannot load its data (nothing was trained)",
                          f"missing npz:{tmp_path / 'absent.npz'} (lacks), npz:{tmp_path / 'absent2.npz'} (lacks);",
                          f"run the other recipes alone: --recipe {ok.resolve()}")     # --only finds built-in ones
    # an output folder that cannot be one is refused before the data is even looked at
    (tmp_path / "afile").write_text("")
    for out, needle in ((tmp_path / "afile", "it is a file, not a folder"),
                        (tmp_path / "afile" / "sub", "afile is a file, not a folder"), ("", "-o/--out is empty")):
        res = CliRunner().invoke(app, ["reproduce", "--recipe", str(ok), "--out", str(out), "-q"])
        assert_one_line_error(res, needle)
    assert not (tmp_path / "out").exists()
    assert not any(s.startswith("demo-") for s in Store().study_names())
    # a misspelt architecture, in a later study: refused before the first study trains
    typo = tmp_path / "typo.toml"
    typo.write_text(ok.read_text().replace('name = "fine"', 'name = "typo"')
                    + '[[studies]]\nkey = "h"\ndataset = "gaussians:dim=4,classes=3,n=150,test=90"\n'
                      'archs = ["randomforest"]\nseeds = "0-1"\nepochs = 2\n')
    res = CliRunner().invoke(app, ["reproduce", "--recipe", str(typo), "--out", str(tmp_path / "out"), "-q"])
    assert_one_line_error(res, f"recipe {typo}, study 'h': unknown architecture 'randomforest'")
    # a learner given a network's option, a boosting learner a fraction of a round: as the CLI refuses
    for arch, table, needle in (("knn", "lr = 0.1", "study 'h' [arch.knn]: lr sets how networks train; the learner "
                                                    "knn does not use it: drop it"),
                                ("adaboost", "epochs = 10.5", "study 'h': epochs = 10.5 for adaboost, which trains in "
                                                              "whole stages")):
        typo.write_text(typo.read_text().split('[[studies]]\nkey = "h"')[0]
                        + f'[[studies]]\nkey = "h"\ndataset = "gaussians:dim=4,classes=3,n=150,test=90"\n'
                          f'archs = ["{arch}"]\nseeds = "0-1"\nepochs = 2\narch.{arch} = {{ {table} }}\n')
        res = CliRunner().invoke(app, ["reproduce", "--recipe", str(typo), "--out", str(tmp_path / "out"), "-q"])
        assert_one_line_error(res, needle)
    # what a later study's turn would refuse on its data, refused before the first study trains, in
    # the recipe's words: a learner on text, a record_every that does not fit, network settings of
    # a study of learners only
    for tail, needle in (
            ('dataset = "docstrings"\narchs = ["knn"]\nseeds = "0-1"\nepochs = 2\n',
             "study 'h' (knn): architecture knn takes image/features data, but dataset docstrings is text data; "
             "pick another archs or dataset (nothing was trained)"),
            ('dataset = "gaussians:dim=4,classes=3,n=150,test=90"\narchs = ["mlp"]\nseeds = "0-1"\nepochs = 2\n'
             'record_every = 5.0\n', "study 'h' (mlp): record_every 5 is larger than the training of mlp (2 epochs)"),
            ('dataset = "gaussians:dim=4,classes=3,n=150,test=90"\narchs = ["knn"]\nseeds = "0-1"\nepochs = 2\n'
             'lr = 0.1\n', "study 'h': lr sets how networks train, and the study has learners only (knn): drop it")):
        typo.write_text(typo.read_text().split('[[studies]]\nkey = "h"')[0] + '[[studies]]\nkey = "h"\n' + tail)
        res = CliRunner().invoke(app, ["reproduce", "--recipe", str(typo), "--out", str(tmp_path / "out"), "-q"])
        assert_one_line_error(res, needle)
    assert not (tmp_path / "out").exists()
    assert not any(s.startswith("demo-") for s in Store().study_names())


def test_study_level_network_options_go_to_the_networks_not_the_learners(tmp_path):
    """`optimizer`/`lr` set for a study of an mlp and a knn are the mlp's: the knn, trained alone
    with them, was refused after the mlp had trained."""
    recipe = tmp_path / "mixed.toml"
    recipe.write_text('name = "mixed"\n[[studies]]\nkey = "g"\ndataset = "gaussians:dim=4,classes=3,n=150,test=90"\n'
                      'archs = ["mlp", "knn"]\nseeds = "0-1"\nepochs = 1\noptimizer = "sgd"\nlr = 0.05\n')
    res = CliRunner().invoke(app, ["reproduce", "--recipe", str(recipe), "--out", str(tmp_path / "o"), "-q",
                                   "--summary-only"])
    assert res.exit_code == 0, res.output
    from orderlab.store import Store
    by = {r.arch: r for r in Store().list_runs("demo-mixed-g")}
    assert by["mlp"].params["optimizer"] == "sgd" and by["knn"].params["optimizer"] == "-"


def test_a_rerun_that_reuses_every_network_needs_no_data(tmp_path):
    """All networks recorded: the data file may be gone (another machine, a cleaned cache) and the
    verdicts and report are still made from the store."""
    import numpy as np
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    np.savez(tmp_path / "d.npz", x_train=rng.normal(size=(90, 4)) + y[:, None], y_train=y,
             x_test=rng.normal(size=(90, 4)) + y[:, None], y_test=y)
    recipe = tmp_path / "again.toml"
    recipe.write_text(f'name = "again"\n[[studies]]\nkey = "n"\ndataset = "npz:{tmp_path / "d.npz"}"\n'
                      'archs = ["logistic"]\nseeds = "0-1"\nepochs = 2\n')
    args = ["reproduce", "--recipe", str(recipe), "-q", "--summary-only", "--out"]
    assert CliRunner().invoke(app, args + [str(tmp_path / "a")]).exit_code == 0
    (tmp_path / "d.npz").unlink()
    res = CliRunner().invoke(app, args + [str(tmp_path / "b")])
    assert res.exit_code == 0 and "reusing 2 finished networks" in res.output, res.output
    assert (tmp_path / "b" / "report.md").exists()


def test_a_study_whose_shared_checkpoints_end_early_is_reported_per_architecture(tmp_path):
    """A 3-epoch mlp beside 8 AdaBoost rounds, both recorded at every whole epoch/round, share 4
    checkpoints: the one study report stopped there, giving AdaBoost at round 3 (with a note that
    it trained further) while the side-by-side table gave it at round 8. Now each architecture is
    reported on its own checkpoints."""
    recipe = tmp_path / "grid.toml"
    recipe.write_text('name = "grid"\n[[studies]]\nkey = "g"\ndataset = "gaussians:dim=4,classes=3,n=150,test=90"\n'
                      'archs = ["mlp", "adaboost"]\nseeds = "0-1"\nrecord_every = 1.0\n'
                      'arch.mlp = { epochs = 3 }\narch.adaboost = { epochs = 8 }\n')
    res = CliRunner().invoke(app, ["reproduce", "--recipe", str(recipe), "--out", str(tmp_path / "o"), "-q",
                                   "--no-log"])
    assert res.exit_code == 0, res.output
    folder = tmp_path / "o" / "grid" / "g"
    assert not (folder / "report.md").exists()
    ada = (folder / "adaboost" / "report.md").read_text()
    assert "(stages 0 to 8)" in ada, ada[:600]
    assert (folder / "mlp" / "report.md").exists()
