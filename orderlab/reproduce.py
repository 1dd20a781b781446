"""`orderlab reproduce`: the paper's experiments as studies defined in recipe files, and verdicts.

A recipe (``orderlab/recipes/*.toml``, or your own file) is one experiment: a title, the claim it
probes, the studies to train and the checks that turn their records into verdicts. See
docs/paradigms.md ("Recipes") for the format. Studies are named ``<scale>-<recipe>-<study>``;
networks already FINISHED in the store with the same settings are reused, so a second run only
trains what is missing and re-computes the reports.
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from orderlab.errors import OrderlabError, counted, epoch_text, share_text

SCALES = ("demo", "paper")
RECIPE_DIR = Path(__file__).parent / "recipes"
# Settings a study (or one architecture of it) may set; they are TrainConfig's fields.
STUDY_KEYS = {"dataset": str, "archs": list, "seeds": str, "epochs": float, "optimizer": str, "lr": float,
              "momentum": float, "weight_decay": float, "batch_size": int, "augment": bool,
              "record_every": float, "record_splits": list, "train_subset": int, "test_subset": int,
              "data_seed": int}
# Hyperparameters compared with a stored run's params before reusing it.
REUSE_KEYS = ("epochs", "optimizer", "lr", "momentum", "weight_decay", "batch_size", "record_every", "augment")
CHECK_KINDS = ("agreement", "bimodal", "order", "across", "control", "paradigm")


# ----------------------------------------------------------------------------- recipes

@dataclass
class StudyPlan:
    key: str
    study: str                          # the study's name in the store
    dataset: str
    archs: list[str]
    seeds: str
    options: dict[str, Any]             # other TrainConfig settings
    per_arch: dict[str, dict[str, Any]] = field(default_factory=dict)

    def options_for(self, arch: str) -> dict[str, Any]:
        return {**self.options, **self.per_arch.get(arch, {})}


@dataclass
class Recipe:
    name: str
    title: str
    claim: str
    path: Path
    scale: str
    studies: list[StudyPlan]
    checks: list[dict[str, Any]]
    # What this scale leaves out (studies with ``scales`` naming the other scale only, and the checks
    # on them): "key (dataset, archs)" per study, and the claims of the checks. The report names them,
    # so that a demo's verdicts are not taken for the recipe's whole test.
    left_out: list[str] = field(default_factory=list)
    checks_left_out: list[str] = field(default_factory=list)

    def study(self, key: str) -> StudyPlan:
        for s in self.studies:
            if s.key == key:
                return s
        raise OrderlabError(f"recipe {self.path}: a check names study {key!r}, which the recipe does not define "
                            f"(studies: {', '.join(s.key for s in self.studies)})")


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise OrderlabError("reading recipes needs Python 3.11+ or `pip install tomli`") from None
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise OrderlabError(f"cannot read recipe {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise OrderlabError(f"recipe {path} is not valid TOML: {e}") from None


def _settings(table: dict, where: str) -> dict[str, Any]:
    out = {}
    for k, v in table.items():
        if k not in STUDY_KEYS:
            raise OrderlabError(f"{where}: unknown setting {k!r}; valid: {', '.join(STUDY_KEYS)}")
        want = STUDY_KEYS[k]
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if want is str and k == "seeds" and isinstance(v, int):
            v = str(v)
        if not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise OrderlabError(f"{where}: {k} must be a {want.__name__} (got {v!r})")
        out[k] = v
    return out


def load_recipe(path: str | Path, scale: str = "demo") -> Recipe:
    """Parse and check a recipe file for ``scale`` (its ``[studies.<scale>]`` tables override)."""
    if scale not in SCALES:
        raise OrderlabError(f"unknown scale {scale!r}; use demo or paper")
    path = Path(path)
    data = _toml(path)
    for k in ("name", "title", "claim"):
        if k in data and not isinstance(data[k], str):
            raise OrderlabError(f"recipe {path}: {k} must be a string (got {data[k]!r})")
    name = data.get("name") or path.stem
    if not name.replace("-", "").replace("_", "").isalnum():
        raise OrderlabError(f"recipe {path}: name {name!r} may hold only letters, digits, - and _")
    raw_studies = data.get("studies")
    if raw_studies is not None and not isinstance(raw_studies, list):
        raise OrderlabError(f"recipe {path}: studies must be an array of tables ([[studies]]); "
                            f"got {raw_studies!r}")
    if not raw_studies:
        raise OrderlabError(f"recipe {path} defines no study; add a [[studies]] table (see docs/paradigms.md)")
    studies = []
    skipped: dict[str, str] = {}          # studies of the other scale only: key -> "key (dataset, archs)"
    for i, st in enumerate(raw_studies):
        where = f"recipe {path}, study {i + 1}"
        if not isinstance(st, dict) or "key" not in st:
            raise OrderlabError(f"{where}: needs key = \"NAME\"")
        if not isinstance(st["key"], str):
            raise OrderlabError(f"{where}: key must be a string (got {st['key']!r})")
        key = st["key"]
        only_scales = st.get("scales", list(SCALES))
        if not isinstance(only_scales, list) or not all(isinstance(x, str) and x in SCALES for x in only_scales):
            raise OrderlabError(f"{where}: scales must be a list of demo/paper (got {only_scales!r})")
        if scale not in only_scales:
            archs = st.get("archs")
            what = ", ".join(str(x) for x in ([st.get("dataset", "?")] + (archs if isinstance(archs, list) else [])))
            skipped[key] = f"{key} ({what})"
            continue
        common = {k: v for k, v in st.items() if k not in ("key", "scales", "arch") + SCALES}
        opts = _settings(common, where)
        scaled = st.get(scale, {})
        if not isinstance(scaled, dict):
            raise OrderlabError(f"{where}: [{scale}] must be a table of settings")
        opts.update(_settings(scaled, f"{where} [{scale}]"))
        per_arch = {}
        arch_tables = st.get("arch", {})
        if not isinstance(arch_tables, dict) or not all(isinstance(t, dict) for t in arch_tables.values()):
            raise OrderlabError(f"{where}: arch must hold one table of settings per architecture "
                                f"([studies.arch.NAME]; got {arch_tables!r})")
        for arch, table in arch_tables.items():
            t = dict(table)
            scaled_a = t.pop(scale, {})
            if not isinstance(scaled_a, dict):
                raise OrderlabError(f"{where}: [arch.{arch}.{scale}] must be a table of settings")
            t = {k: v for k, v in t.items() if k not in SCALES}
            per_arch[arch] = {**_settings(t, f"{where} [arch.{arch}]"),
                              **_settings(scaled_a, f"{where} [arch.{arch}.{scale}]")}
        for need in ("dataset", "archs", "seeds"):
            if need not in opts:
                raise OrderlabError(f"{where} ({key}): missing {need!r}")
        dataset, archs, seeds = opts.pop("dataset"), [str(a) for a in opts.pop("archs")], opts.pop("seeds")
        from orderlab.trainer.api import parse_seeds
        try:
            parse_seeds(str(seeds))           # refused here, where the message can name the study
        except OrderlabError as e:
            raise OrderlabError(f"{where} ({key}): {e}") from None
        # a misspelt [arch.adaboots] would leave adaboost on its defaults, unsaid (a table for an
        # architecture of the other scale's archs is that scale's)
        every = {str(a) for t in [st, *(st.get(x) for x in SCALES)] if isinstance(t, dict)
                 and isinstance(t.get("archs"), list) for a in t["archs"]}
        stray = [a for a in per_arch if a not in every]
        if stray:
            raise OrderlabError(f"{where} ({key}): [arch.{stray[0]}] names no architecture of the study "
                                f"(archs: {', '.join(sorted(every))}); fix its name, or add it to archs")
        from orderlab.trainer.api import check_new_study_name
        study = f"{scale}-{name}-{key}"
        try:        # its MLflow name: refused here, where --list and the message can name the key
            check_new_study_name(study)
        except OrderlabError as e:
            raise OrderlabError(f"{where} ({key!r}): {e}; change its key") from None
        studies.append(StudyPlan(key, study, dataset, archs, seeds, opts, per_arch))
    if not studies:
        raise OrderlabError(f"recipe {path} has no study for --scale {scale}")
    keys = [s.key for s in studies]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:           # a check, and the study's MLflow name, would take the first one silently
        raise OrderlabError(f"recipe {path}: study key {', '.join(map(repr, twice))} is used by more than one "
                            f"study at --scale {scale}; give each study its own key")
    checks = data.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise OrderlabError(f"recipe {path}: checks must be an array of tables ([[checks]]; got {checks!r})")
    # A check on a study of the other scale only is left out at this scale.
    def other_scale(c) -> bool:
        return bool({str(c.get("study")), str(c.get("reference_study"))} & set(skipped))
    left_checks = [str(c.get("claim") or c.get("kind", "?")) for c in checks if other_scale(c)]
    checks = [c for c in checks if not other_scale(c)]
    recipe = Recipe(name, data.get("title", name), data.get("claim", ""), path, scale, studies, checks,
                    list(skipped.values()), left_checks)
    for i, c in enumerate(checks):
        _check_check(recipe, c, f"recipe {path}, check {i + 1}")
    return recipe


# What a check may say (evaluate_check reads these; docs/paradigms.md describes them).
CHECK_KEYS = ("kind", "study", "reference_study", "arch", "archs", "learners", "reference_arch", "at", "split",
              "claim", "margin", "min_contain", "min_gap", "min_rho", "min_tv")


def _check_check(recipe: Recipe, c: dict[str, Any], where: str) -> None:
    """A check that names a study, architecture or checkpoint its recipe does not train is refused
    with the recipe, before any network trains (it failed, or gave a verdict at the wrong epoch,
    only after the training)."""
    kind = c.get("kind")
    if kind not in CHECK_KINDS:
        raise OrderlabError(f"{where}: check kind {kind!r} is unknown; use one of {', '.join(CHECK_KINDS)}")
    unknown = sorted(set(c) - set(CHECK_KEYS))
    if unknown:         # a misspelt threshold (min_gp) was ignored and the default used
        raise OrderlabError(f"{where} ({kind}): unknown setting {', '.join(map(repr, unknown))}; valid: "
                            f"{', '.join(CHECK_KEYS)}")
    for key in ("study",) + (("reference_study",) if kind == "control" else ()):
        if key not in c:
            raise OrderlabError(f"{where} ({kind}): needs {key} = \"KEY\" (one of the recipe's studies: "
                                f"{', '.join(s.key for s in recipe.studies)})")
    plan = recipe.study(str(c["study"]))
    for key in ("archs", "learners"):
        if key in c and not (isinstance(c[key], list) and all(isinstance(a, str) for a in c[key])):
            raise OrderlabError(f"{where} ({kind}): {key} must be a list of architecture names, e.g. "
                                f"{key} = [\"mlp\", \"cnn\"] (got {c[key]!r})")
    if kind == "across" and "archs" in c and len(c["archs"]) != 2:
        raise OrderlabError(f"{where} (across): archs names the two architectures compared, weaker first "
                            f"(got {len(c['archs'])})")
    arch = str(c.get("arch") or plan.archs[0])          # as evaluate_check takes them
    named = [(arch, plan)] + [(str(a), plan) for key in ("archs", "learners") for a in (c.get(key) or [])]
    reference = recipe.study(str(c["reference_study"])) if kind == "control" else plan
    if kind == "control":
        named.append((str(c.get("reference_arch") or arch), reference))
    elif c.get("reference_arch"):
        named.append((str(c["reference_arch"]), plan))
    for a, p in named:
        if a not in p.archs:
            raise OrderlabError(f"{where} ({kind}): names architecture {a!r}, which study {p.key!r} does not "
                                f"train (it trains {', '.join(p.archs)})")
    at = c.get("at")
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        # a control's `at` is the epoch in both studies
        checked = [(plan, arch)] + ([(reference, str(c.get("reference_arch") or arch))] if kind == "control" else [])
        for p, a in checked:
            epochs = _planned_epochs(p, a)
            if not 0 <= at <= epochs:
                raise OrderlabError(f"{where} ({kind}): at = {at:g} is outside the training of {a} in study "
                                    f"{p.key!r} (epochs 0 to {epochs:g}); use an epoch in it, or early, middle, final")
    elif at is not None and at not in ("early", "middle", "final"):
        raise OrderlabError(f"{where} ({kind}): at = {at!r}; use early, middle, final or an epoch number")


def _planned_epochs(plan: StudyPlan, arch: str) -> float:
    """How long ``arch`` trains in ``plan``: the recipe's epochs, else the architecture's default."""
    epochs = plan.options_for(arch).get("epochs")
    if epochs is None:
        from orderlab.trainer.models import get_arch
        epochs = get_arch(arch).hyperparameters()["epochs"]
    return float(epochs)


def builtin_recipes() -> list[Path]:
    return sorted(RECIPE_DIR.glob("*.toml"))


def select_recipes(scale: str, only: list[str] | None = None, files: list[str | Path] | None = None) -> list[Recipe]:
    paths = [Path(f) for f in files] if files else builtin_recipes()
    recipes = [load_recipe(p, scale) for p in paths]
    if only:
        names = {r.name for r in recipes}
        missing = [o for o in only if o not in names]
        if missing:
            raise OrderlabError(f"no recipe named {', '.join(missing)}; choose from {', '.join(sorted(names))}")
        recipes = [r for r in recipes if r.name in only]
    return recipes


# ----------------------------------------------------------------------------- training

def _options(plan: StudyPlan, arch: str) -> dict[str, Any]:
    """The plan's settings for ``arch``: a study's optimizer, lr, ... are its networks'; a learner
    has none (given them, it would be refused; stored, they would never match its runs)."""
    from orderlab.trainer.api import NETWORK_ONLY
    from orderlab.trainer.learners import LEARNERS
    o = plan.options_for(arch)
    return {k: v for k, v in o.items() if k not in NETWORK_ONLY} if arch in LEARNERS else o


def _config(plan: StudyPlan, arch: str, seeds: list[int], common: dict[str, Any]):
    from orderlab.trainer.api import TrainConfig
    o = _options(plan, arch)
    return TrainConfig(study=plan.study, archs=[arch], seeds=seeds, dataset=plan.dataset,
                       epochs=o.get("epochs"), optimizer=o.get("optimizer"), lr=o.get("lr"),
                       momentum=o.get("momentum"), weight_decay=o.get("weight_decay"),
                       batch_size=o.get("batch_size"), augment=o.get("augment"),
                       record_every=o.get("record_every", 1.0),
                       record_splits=tuple(o.get("record_splits", ("train", "test"))),
                       train_subset=o.get("train_subset"), test_subset=o.get("test_subset"),
                       data_seed=o.get("data_seed", 0), **common,
                       # reproduce has no --study: its studies are named <scale>-<recipe>-<key>
                       mismatch_fix=f"reproduce names its studies <scale>-<recipe>-<key>: give this study "
                                    f"({plan.key!r}) another key in the recipe, or reproduce into another store "
                                    f"with --tracking-uri")


def reusable_runs(store, plan: StudyPlan, arch: str) -> dict[int, Any]:
    """FINISHED runs of ``arch`` in the plan's study trained with the plan's settings, by seed."""
    from orderlab.store import param_equals
    if plan.study not in store.study_names():
        return {}
    o = _options(plan, arch)
    out = {}
    for r in store.list_runs(plan.study):
        if r.arch != arch or r.status != "FINISHED":
            continue
        if all(param_equals(r.params.get(k), o[k]) for k in REUSE_KEYS if k in o):
            out.setdefault(r.seed, r)
    return out


def train_plan(store, plan: StudyPlan, common: dict[str, Any], reporter, log: Callable[[str], None]) -> list:
    """Train what the store lacks; return the runs the analyses use (one per arch and seed)."""
    from orderlab.trainer.api import parse_seeds, train_study
    seeds = parse_seeds(plan.seeds)
    for arch in plan.archs:
        have = reusable_runs(store, plan, arch)
        todo = [s for s in seeds if s not in have]
        if have:
            log(f"{plan.study}: {arch}: reusing {counted(len(seeds) - len(todo), 'finished network')}")
        if todo:
            train_study(_config(plan, arch, todo, common), reporter)
    runs = []
    for arch in plan.archs:
        have = reusable_runs(store, plan, arch)
        missing = [s for s in seeds if s not in have]
        if missing:
            from orderlab.studydata import suggest
            raise OrderlabError(f"{plan.study}: {arch} seeds {missing[:5]} did not finish; see "
                                f"`{suggest(store, 'orderlab', 'runs', plan.study)}` and run the command again (once any other command training "
                                f"them has ended)")
        runs += [have[s] for s in seeds]
    return runs


# ----------------------------------------------------------------------------- analysis

class StudyData:
    """A study's records, loaded once: all networks (when they share checkpoints) and per arch."""

    def __init__(self, store, plan: StudyPlan, runs: list):
        self.store, self.plan, self.runs = store, plan, runs
        self._cache: dict[tuple, Any] = {}

    def stack(self, split: str = "test", arch: str | None = None):
        key = (split, arch)
        if key not in self._cache:
            from orderlab.record import RecordError
            from orderlab.studydata import load_stack
            runs = [r for r in self.runs if arch is None or r.arch == arch]
            if arch is not None and not runs:
                raise OrderlabError(f"{self.plan.study}: no network of architecture {arch!r}; the study has "
                                    f"{', '.join(self.plan.archs)}")
            try:
                self._cache[key] = load_stack(self.store, self.plan.study, split, runs=runs)
            except RecordError:  # architectures recorded at different positions: keep the common ones
                self._cache[key] = load_stack(self.store, self.plan.study, split, runs=runs, align="common")
        return self._cache[key]


def _at(stack, at: Any) -> int:
    """``early`` / ``middle`` / ``final`` (by progress of accuracy) or an epoch number."""
    from orderlab.analysis.summary import pick_checkpoints
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        return stack.checkpoint_index(float(at))
    picks = pick_checkpoints(stack)
    if at not in picks:
        raise OrderlabError(f"check: at = {at!r}; use early, middle, final or an epoch number")
    return picks[at]


@dataclass
class Verdict:
    recipe: str
    claim: str
    ok: bool | None            # None: could not be decided (e.g. too few networks)
    detail: str
    numbers: dict[str, float] = field(default_factory=dict)

    @property
    def word(self) -> str:
        return {True: "yes", False: "no", None: "undecided"}[self.ok]

    def line(self) -> str:
        return f"{self.claim}: {self.word}, {self.detail}"


def _f(x: float, nd: int = 2) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def excess(tpa: float, ind: float) -> float:
    """How far TPA goes from independence towards full agreement: (TPA - ind) / (1 - ind)."""
    return float((tpa - ind) / (1 - ind)) if ind < 1 else float("nan")


N_SPLITS = 10


def half_accessibilities(stack, n_splits: int = N_SPLITS, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Accessibility of two halves of the (one architecture's) networks, ``n_splits`` splits
    (:func:`orderlab.analysis.metrics.half_splits`: random, or each distinct one in turn for up to 6).

    Orders are always compared between half-groups, within an architecture and across, so both
    rest on groups of the same size (fewer networks give noisier orders)."""
    from orderlab.analysis import metrics as M
    return [(M.accessibility(stack, h[0]), M.accessibility(stack, h[1]))
            for plan in M.half_splits(stack, n_splits, seed) for h in plan.values()]


def within_rho(stack) -> float:
    """Spearman's rho between the accessibilities of two halves of the networks (mean of splits)."""
    from orderlab.analysis.stats import spearman
    if stack.n_networks < 2:
        return float("nan")
    return float(np.mean([spearman(a, b) for a, b in half_accessibilities(stack)]))


def across_rho(stack_a, stack_b) -> float:
    """Spearman's rho between half-groups of two architectures (each half of A with each of B).

    The stacks may have different checkpoint grids (a learner's stages, a network's epochs):
    accessibility is a per-example mean over each one's own checkpoints."""
    from orderlab.analysis.stats import spearman
    ha, hb = half_accessibilities(stack_a), half_accessibilities(stack_b)
    return float(np.mean([spearman(x, y) for (a1, a2), (b1, b2) in zip(ha, hb) for x in (a1, a2)
                          for y in (b1, b2)]))


def evaluate_check(check: dict[str, Any], data: dict[str, StudyData], recipe: Recipe) -> Verdict:
    from orderlab.analysis import metrics as M
    kind = check["kind"]
    sd = data[str(check["study"])]
    split = str(check.get("split", "test"))
    arch = check.get("arch") or sd.plan.archs[0]
    claim = str(check.get("claim") or kind)
    label = f"{arch}, {sd.plan.dataset}, {split}"

    if kind == "agreement":
        st = sd.stack(split, arch)
        at = check.get("at", "middle")
        c = _at(st, at)
        t, ind = float(M.tpa(st, c)), float(M.tpa_independent(st, c))
        gap = float(check.get("min_gap", 0.15))
        # The other stages too, so a verdict at one stage never hides the rest of training.
        others = []
        for name in ("early", "middle", "final"):
            o = _at(st, name)
            if o != c:
                others.append(f"{name} {_f(float(M.tpa(st, o)))} vs {_f(float(M.tpa_independent(st, o)))} at "
                              f"{st.at(o)}")
        return Verdict(recipe.name, claim, t - ind >= gap,
                       f"{_f(t)} vs {_f(ind)} at {st.at(c)} ({at}; {label}; accuracy "
                       f"{float(M.accuracy(st, c).mean()):.2f}){'; ' if others else ''}{', '.join(others)}",
                       {"tpa": t, "independent": ind, "epoch": float(st.epoch[c])})
    if kind == "bimodal":
        st = sd.stack(split, arch)
        c = _at(st, check.get("at", "middle"))
        b = M.bimodality(st, c)
        tv, sarle = float(b["tv"]), float(b["sarle"])
        return Verdict(recipe.name, claim, tv >= float(check.get("min_tv", 0.25)),
                       f"total variation {_f(tv)} from the independence histogram, Sarle {_f(sarle)} at "
                       f"{st.at(c)} ({label})", {"tv": tv, "sarle": sarle})
    if kind == "order":
        st = sd.stack(split, arch)
        if st.n_networks < 2:
            return Verdict(recipe.name, claim, None, f"needs two networks or more ({label})")
        rho = within_rho(st)
        return Verdict(recipe.name, claim, rho >= float(check.get("min_rho", 0.6)),
                       f"Spearman {_f(rho)} between the accessibilities of two halves of the {st.n_networks} "
                       f"networks ({label})", {"spearman": rho})
    if kind == "across":
        a, b = [str(x) for x in check.get("archs", sd.plan.archs[:2])]   # weaker first
        sa, sb = sd.stack(split, a), sd.stack(split, b)
        rho_ab = across_rho(sa, sb)
        ra, rb = within_rho(sa), within_rho(sb)
        # What the majority of each gets right at the end.
        ka = M.correct_count(sa, sa.n_checkpoints - 1) > sa.n_networks / 2
        kb = M.correct_count(sb, sb.n_checkpoints - 1) > sb.n_networks / 2
        contain = float((ka & kb).sum() / max(1, ka.sum()))
        extra = float((kb & ~ka).mean())
        fa, fb = float(M.accuracy(sa, -1).mean()), float(M.accuracy(sb, -1).mean())
        ok = rho_ab >= float(check.get("min_rho", 0.5)) and contain >= float(check.get("min_contain", 0.85))
        return Verdict(recipe.name, claim, ok,
                       f"order Spearman {a}~{b} {_f(rho_ab)} (within {_f(ra)}, {_f(rb)}); {b} gets "
                       f"{share_text(contain)} of what {a} gets right, plus {share_text(extra)} of the examples more "
                       f"(final accuracy {b} {fb:.2f}, {a} {fa:.2f}"
                       + (f": {b}, named the stronger, ends less accurate" if round(fb, 2) < round(fa, 2) else "")
                       + f"; {sd.plan.dataset}, {split})",
                       {"spearman": rho_ab, "within_a": ra, "within_b": rb, "contain": contain, "extra": extra})
    if kind == "control":
        ref = data[str(check["reference_study"])]
        ref_arch = check.get("reference_arch") or arch
        at = check.get("at", "middle")
        sc, sr = sd.stack(split, arch), ref.stack(split, ref_arch)
        cc, cr = _at(sc, at), _at(sr, at)
        ec = excess(float(M.tpa(sc, cc)), float(M.tpa_independent(sc, cc)))
        er = excess(float(M.tpa(sr, cr)), float(M.tpa_independent(sr, cr)))
        rc, rr = within_rho(sc), within_rho(sr)
        ok = ec <= er - float(check.get("margin", 0.2))
        return Verdict(recipe.name, claim, ok,
                       f"excess agreement {_f(ec)} on {sd.plan.dataset} ({arch}) vs {_f(er)} on "
                       f"{ref.plan.dataset} ({ref_arch}); {split}, {at}; order Spearman {_f(rc)} vs {_f(rr)}",
                       {"excess": ec, "reference_excess": er, "spearman": rc, "reference_spearman": rr})
    if kind == "paradigm":
        ref_arch = str(check.get("reference_arch", sd.plan.archs[0]))
        learners = [str(x) for x in check.get("learners", [a for a in sd.plan.archs if a != ref_arch])]
        sr = sd.stack(split, ref_arch)
        within = within_rho(sr)
        rhos = {l: across_rho(sd.stack(split, l), sr) for l in learners}
        # What ρ with the reference would be if a learner shared its order, given how consistent each
        # is with itself (the noise ceiling, √(ρ_ref · ρ_learner)): measured against the reference's
        # own ρ alone, a learner with a noisy order of its own passed by its noise.
        own = {l: within_rho(sd.stack(split, l)) for l in learners}
        ceiling = {l: float(np.sqrt(max(within, 0.0) * max(own[l], 0.0))) if np.isfinite(own[l]) else within
                   for l in learners}
        gap = float(np.mean([ceiling[l] - rhos[l] for l in learners]))
        margin = float(check.get("margin", 0.1))
        ok = None if not np.isfinite(gap) else gap >= margin
        parts = ", ".join(f"{l} {_f(rhos[l])} (ceiling {_f(ceiling[l])})" for l in learners)
        return Verdict(recipe.name, claim, ok,
                       f"order Spearman with {ref_arch}: {parts}; mean {_f(gap)} below the ceilings (margin "
                       f"{_f(margin)}); {_f(within)} within {ref_arch} (half-groups; {sd.plan.dataset}, {split})",
                       {"mean": float(np.mean(list(rhos.values()))), "gap": gap, "within": within,
                        **{f"spearman_{l}": r for l, r in rhos.items()},
                        **{f"within_{l}": own[l] for l in learners}, **{f"ceiling_{l}": ceiling[l] for l in learners}})
    raise OrderlabError(f"unknown check kind {kind!r}")


# ----------------------------------------------------------------------------- reports

def study_rows(sd: StudyData, split: str = "test") -> list[dict[str, Any]]:
    """One row per architecture of a study for the side-by-side table."""
    from orderlab.analysis import metrics as M
    from orderlab.analysis.summary import identical_groups
    recorded = sd.plan.options.get("record_splits", ["train", "test"])
    split = split if split in recorded else recorded[0]
    rows = []
    for arch in sd.plan.archs:
        st = sd.stack(split, arch)
        c = _at(st, "middle")
        rows.append({
            "study": sd.plan.study, "dataset": sd.plan.dataset, "split": split, "arch": arch, "networks": st.n_networks,
            "examples": st.n_examples, "final_acc": float(M.accuracy(st, -1).mean()), "middle_epoch": float(st.epoch[c]),
            "unit": st.unit, "middle_acc": float(M.accuracy(st, c).mean()), "tpa_middle": float(M.tpa(st, c)),
            "ind_middle": float(M.tpa_independent(st, c)), "tpa_final": float(M.tpa(st, -1)),
            "ind_final": float(M.tpa_independent(st, -1)), "tv_middle": float(M.bimodality(st, c)["tv"]),
            "rho_within": within_rho(st),
            # every network right on the same examples at the end (k-NN, an SVM on all the data):
            # TPA 1 by construction, not agreement learned
            "identical_final": bool(identical_groups(st, st.n_checkpoints - 1))})
    return rows


def write_study_report(sd: StudyData, out_dir: Path, log: bool = True) -> tuple[list[Path], str | None]:
    """``orderlab report`` of the study; one per architecture when the study's stack holds fewer than
    4 checkpoints (architectures on grids that share little, as learners' stages and networks'
    epochs do, or a recipe recorded that sparsely: each architecture then on its own grid), or when
    the shared checkpoints end before some architecture's training did (40 AdaBoost rounds beside a
    4-epoch mlp were reported at round 4, accuracy 0.41 of its final 0.88). With
    ``log``, also logged as the study's report run, as `orderlab report` logs it, so that the MLflow
    UI shows the figures. Returns the reports' ``report.md`` paths and a note when logging failed."""
    from orderlab.analysis.report import write_report
    from orderlab.studydata import study_examples
    recorded = sd.plan.options.get("record_splits", ["train", "test"])
    splits = ["test"] if "test" in recorded else list(recorded)   # figures cost; `orderlab report` has both
    examples, damaged = study_examples(sd.store, sd.plan.study, "the report has no example grid")
    notes = [damaged] if damaged else []
    stacks = {s: sd.stack(s) for s in splits}
    if all(st.n_checkpoints >= 4 and not st.cut_short for st in stacks.values()):
        reports = [(None, stacks, write_report(stacks, out_dir, examples, notes=notes, examples_damaged=bool(damaged),
                                               title=f"{sd.plan.study}: {', '.join(sd.plan.archs)} on {sd.plan.dataset}"))]
    else:
        reports = []
        for a in sd.plan.archs:
            per = {s: sd.stack(s, a) for s in splits}
            reports.append((a, per, write_report(per, out_dir / a, examples, notes=notes, examples_damaged=bool(damaged),
                                                 title=f"{sd.plan.study}: {a} on {sd.plan.dataset}")))
    return [md for _, _, md in reports], (_log_study_report(sd, reports) if log else None)


def _log_study_report(sd: StudyData, reports: list) -> str | None:
    """Log the study's reports (``(arch or None, stacks, report.md)``) as its report run: the files
    under ``report/`` (``report/<arch>/`` for one report per architecture) and the TPA curves, as
    `orderlab report` logs them. A failure is a note: the reports on disk are what this run is for."""
    from orderlab.analysis.report import REPORT_FILES, report_metrics
    files: list = []
    series = []
    for arch, stacks, md in reports:
        names = [md.name] + [p.format(split=s) for s in stacks for p in REPORT_FILES]
        files += [(md.parent / n, arch) for n in names if (md.parent / n).is_file()]
        for i, st in enumerate(stacks.values()):
            values = report_metrics(st, with_epoch=i == 0 and arch is None)
            if i == 0 and arch is not None:       # each architecture on its own grid: an epoch series each
                values[f"epoch/{arch}"] = [float(e) for e in st.epoch]
            series.append((values, range(st.n_checkpoints)))
    first = next(iter(reports[0][1].values()))
    covers = {"splits": ",".join(reports[0][1]), "archs": ",".join(sd.plan.archs),
              "networks": sum(next(iter(st.values())).n_networks for _, st, _ in reports),
              "checkpoints": first.n_checkpoints if len(reports) == 1 else "per architecture",
              "studies": sd.plan.study, "made_by": "orderlab reproduce"}
    try:
        sd.store.log_report(sd.plan.study, files, series, covers)
    except Exception as e:  # noqa: BLE001 - the artifact store (disk, permissions, a server): the files are written
        from orderlab.store import logging_failure
        why = logging_failure(e)
        if why is None:
            raise
        return f"{sd.plan.study}: report written but not logged to MLflow ({why})"
    return None


def recipe_option(rec: Recipe) -> str:
    """The option that runs ``rec`` alone: ``--only NAME`` for a built-in recipe, ``--recipe PATH``
    (absolute, so it works from any folder) for a user's file, which ``--only`` does not look at."""
    if rec.path.resolve().parent == RECIPE_DIR.resolve():
        return f"--only {rec.name}"
    return f"--recipe {shlex.quote(str(rec.path.resolve()))}"


def write_summary(out: Path, scale: str, command: str, results: list[dict[str, Any]], seconds: float) -> Path:
    md = [f"# orderlab reproduce --scale {scale}", "",
          f"Command: `{command}`  ", f"Finished {time.strftime('%Y-%m-%d %H:%M')} in {seconds / 60:.1f} min.", "",
          "TPA = share of examples all networks get right over their mean accuracy; *ind.* = the TPA of "
          "independent networks of the same accuracies; *early* / *middle* = the checkpoints a third / two thirds "
          "of the way from the untrained to the final accuracy; TV = total variation of the correct-count histogram from "
          "independence; ρ = Spearman correlation of accessibility between two halves of the networks.", "",
          "## Verdicts", ""]
    for res in results:
        for v in res["verdicts"]:
            md.append(f"- **{v.claim}**: {v.word}, {v.detail} *({res['recipe'].name})*")
    md += ["", "## Side by side (test split)", "",
           "| experiment | dataset | arch | nets | final acc | middle (acc) | TPA middle | ind. middle | "
           "TPA final | ind. final | TV middle | ρ within |", "|---" * 12 + "|"]
    for res in results:
        for r in res["rows"]:
            md.append(f"| {res['recipe'].name} | {r['dataset']} | {r['arch']} | {r['networks']} | "
                      f"{r['final_acc']:.3f} | {r.get('unit', 'epoch')} {epoch_text(r['middle_epoch'])} ({r['middle_acc']:.2f}) | {r['tpa_middle']:.3f} | "
                      f"{r['ind_middle']:.3f} | {r['tpa_final']:.3f}{' †' if r.get('identical_final') else ''} | "
                      f"{r['ind_final']:.3f} | {r['tv_middle']:.2f} | {_f(r['rho_within'])} |")
    if any(r.get("identical_final") for res in results for r in res["rows"]):
        md += ["", "† its networks are right on exactly the same examples at the end (as k-NN or an SVM fit on the "
                   "whole training set, whatever the seed): TPA 1 by construction, not agreement learned."]
    for res in results:
        rec = res["recipe"]
        md += ["", f"## {rec.title}", "", rec.claim, "", f"Recipe: `{rec.path.name}`. Studies:", ""]
        for plan in rec.studies:
            links = res["reports"].get(plan.key, [])
            # no dash where there is no report to link (--summary-only writes none)
            ref = "" if not links else (" — reports: " if len(links) > 1 else " — ") + ", ".join(
                f"[{p.parent.name if len(links) > 1 else 'report'}]({p.relative_to(out).as_posix()})" for p in links)
            md.append(f"- `{plan.study}`: {', '.join(plan.archs)} × seeds {plan.seeds} on `{plan.dataset}`{ref}")
        if rec.left_out:
            other = next(x for x in SCALES if x != rec.scale)
            checks = (f" and {len(rec.checks_left_out)} check{'s' if len(rec.checks_left_out) > 1 else ''} on "
                      f"{'them' if len(rec.left_out) > 1 else 'it'} ({'; '.join(rec.checks_left_out)})"
                      if rec.checks_left_out else "")
            which = recipe_option(rec)
            md.append(f"- Not run at --scale {rec.scale} (`scales = [\"{other}\"]`): "
                      f"{', '.join(f'`{x}`' for x in rec.left_out)}{checks}; `orderlab reproduce --scale {other} "
                      f"{which}` runs {'them' if len(rec.left_out) + len(rec.checks_left_out) > 1 else 'it'}.")
        md += ["", *[f"- {v.line()}" for v in res["verdicts"]]]
        figs = [p for p in res["figures"]]
        for f in figs:
            md.append(f"\n![{f.stem}]({f.relative_to(out).as_posix()})")
    # Study reports an earlier run of other recipes left in this folder: named, not deleted (they
    # are the user's results), so that nobody takes them for part of this report.
    ours = {res["recipe"].name for res in results}
    older = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name not in ours and any(p.rglob("report.md")))
    if older:
        md += ["", "## Not part of this report", "",
               f"Also in this folder, from an earlier run of other recipes: {', '.join(f'`{n}/`' for n in older)}."]
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    js = [{"recipe": res["recipe"].name, "verdicts": [{"claim": v.claim, "verdict": v.word, "detail": v.detail,
                                                        "numbers": v.numbers} for v in res["verdicts"]],
           "studies": res["rows"]} for res in results]
    (out / "verdicts.json").write_text(json.dumps(js, indent=1, default=float))
    return path


# train's options as a recipe's keys: what a check of a study's settings says is to be fixed in
# the recipe, not on a command line
RECIPE_WORDS = {"--record-every": "record_every", "--epochs": "epochs", "--lr": "lr", "--momentum": "momentum",
                "--weight-decay": "weight_decay", "--batch-size": "batch_size", "--optimizer": "optimizer",
                "--augment": "augment", "--train-subset": "train_subset", "--test-subset": "test_subset",
                "--data-seed": "data_seed", "--record-splits": "record_splits", "--arch": "archs",
                "--dataset": "dataset", "--seeds": "seeds"}


def recipe_words(message: str) -> str:
    """``message`` with train's options named by the recipe's keys ("--record-every" -> "record_every")."""
    import re
    return re.sub(r"--[a-z][a-z-]*", lambda m: RECIPE_WORDS.get(m.group(0), m.group(0)), message)


def check_data(store, recipes: list[Recipe], data_dir: str | None, download: bool) -> None:
    """Every study's data loads before any network trains: a dataset found missing at the third
    recipe would otherwise end the run there, after minutes of training, with no report. A study
    whose networks are all there to reuse needs no data (a rerun that only rebuilds the report)."""
    from orderlab.trainer.api import NETWORK_ONLY, parse_seeds
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.learners import WHOLE_STAGES
    from orderlab.trainer.models import get_arch
    for rec in recipes:      # what a study's turn would refuse, found before any recipe trains
        for plan in rec.studies:
            where = f"recipe {rec.path}, study {plan.key!r}"
            for a in plan.archs:
                try:
                    spec = get_arch(a)
                except OrderlabError as e:
                    raise OrderlabError(f"{where}: {e}") from None
                own = sorted(set(plan.per_arch.get(a, {})) & set(NETWORK_ONLY))
                if spec.kind == "sklearn" and own:
                    raise OrderlabError(f"{where} [arch.{a}]: {', '.join(own)} set{'s' if len(own) == 1 else ''} how networks train; the learner "
                                        f"{a} does not use {'it' if len(own) == 1 else 'them'}: drop "
                                        f"{'it' if len(own) == 1 else 'them'} (epochs sets a learner's stages)")
                epochs = plan.options_for(a).get("epochs")
                if a in WHOLE_STAGES and epochs is not None and epochs != int(epochs):
                    raise OrderlabError(f"{where}: epochs = {epochs:g} for {a}, which trains in whole stages "
                                        f"(boosting rounds or trees); give a whole number")
            # the study's own network settings, with learners alone, would be dropped unsaid (as
            # `train` refuses --lr for learners alone)
            own = sorted(set(plan.options) & set(NETWORK_ONLY))
            if own and all(get_arch(a).kind == "sklearn" for a in plan.archs):
                raise OrderlabError(f"{where}: {', '.join(own)} set{'s' if len(own) == 1 else ''} how networks train, "
                                    f"and the study has learners only ({', '.join(plan.archs)}): drop "
                                    f"{'it' if len(own) == 1 else 'them'} (epochs sets a learner's stages)")
    problems: dict[str, str] = {}            # dataset -> why it cannot be loaded
    needed_by: dict[str, list[str]] = {}     # dataset -> recipes that need it
    loaded: dict[str, Any] = {}              # dataset -> what the prechecks read of it (not its arrays)
    to_train = []                            # (recipe, plan, arch, seeds) the run will train
    for rec in recipes:
        for plan in rec.studies:
            seeds = parse_seeds(plan.seeds)
            have = {a: reusable_runs(store, plan, a) for a in plan.archs}
            todo = {a: [sd for sd in seeds if sd not in have[a]] for a in plan.archs}
            if not any(todo.values()):
                continue
            to_train += [(rec, plan, a, sds) for a, sds in todo.items() if sds]
            if plan.dataset not in problems:
                try:
                    from types import SimpleNamespace
                    ds = load_dataset(plan.dataset, data_dir=data_dir, download=download)
                    loaded[plan.dataset] = SimpleNamespace(kind=ds.kind, augment_default=ds.augment_default)
                    problems[plan.dataset] = ""
                except OrderlabError as e:
                    problems[plan.dataset] = str(e)
            if problems[plan.dataset]:
                needed_by.setdefault(plan.dataset, []).append(rec.name)
    if not needed_by:
        # what each study's turn would refuse on its data (an architecture that takes other data, a
        # record_every that does not fit its training …), before the first study trains
        from orderlab.trainer.api import precheck
        for rec, plan, a, sds in to_train:
            try:
                precheck(_config(plan, a, sds, {}), loaded[plan.dataset], store)
            except OrderlabError as e:
                raise OrderlabError(f"recipe {rec.path}, study {plan.key!r} ({a}): {recipe_words(str(e))} "
                                    f"(nothing was trained)") from None
        return
    from orderlab.errors import name_list
    dataset = next(iter(needed_by))
    lacking = sorted({n for ns in needed_by.values() for n in ns})
    others = [recipe_option(r) for r in recipes if r.name not in lacking]
    alone = f"; or run the other recipes alone: {' '.join(others)}" if others else ""
    # Every dataset missing, with the recipes that need it: fixing the one named would otherwise
    # only lead to the next.
    missing = name_list([f"{d} ({', '.join(dict.fromkeys(ns))})" for d, ns in needed_by.items()], most=6)
    several = len(lacking) > 1
    raise OrderlabError(f"recipe{'s' if several else ''} {', '.join(lacking)} cannot load {'their' if several else 'its'} "
                        f"data (nothing was trained): missing {missing}; {problems[dataset]}{alone}")


def reproduce(scale: str = "demo", only: list[str] | None = None, recipe_files: list[str | Path] | None = None,
              out_dir: str | Path | None = None, tracking_uri: str | None = None, device: str = "auto",
              data_dir: str | None = None, download: bool = False, quiet: bool = False,
              study_reports: bool = True, threads: int | None = None, log_reports: bool = True,
              log: Callable[[str], None] = print) -> Path:
    """Train every study of the chosen recipes (reusing finished networks), check the claims and
    write ``report.md`` (with one report per study) into ``out_dir``; returns its path."""
    from orderlab.store import Store
    from orderlab.trainer.progress import Reporter, RichReporter
    import os
    started = time.monotonic()
    recipes = select_recipes(scale, only, recipe_files)
    # The demo's small networks train fastest on one CPU thread per process, and far faster
    # when other processes share the cores (measured here: 22x with a loaded 2-core machine,
    # as threads of one op spin waiting for each other). OMP_NUM_THREADS or --threads override.
    if threads is None and scale == "demo" and "OMP_NUM_THREADS" not in os.environ:
        threads = 1
    if threads:
        import torch
        torch.set_num_threads(int(threads))
    if device not in ("auto", "cpu"):   # before anything is made: a bad --device leaves nothing behind
        from orderlab.trainer.loop import resolve_device
        resolve_device(device)
    store = Store(tracking_uri)         # an unreachable server, likewise, before the output folder
    from orderlab.studydata import check_report_folder, make_folders, output_error
    out = Path(out_dir or f"reproduce-{scale}")
    check_report_folder(out)            # a file in the way: said before minutes of training
    check_data(store, recipes, data_dir, download)
    make_folders(out, lambda e, where: output_error(out, e, "-o/--out", where, what="the report to "))
    common = dict(device=device, data_dir=data_dir, download=download, tracking_uri=tracking_uri, quiet=quiet)
    results = []
    for rec in recipes:
        log(f"== {rec.name}: {rec.title}")
        data: dict[str, StudyData] = {}
        reporter = Reporter() if quiet else RichReporter()
        with reporter:
            for plan in rec.studies:
                data[plan.key] = StudyData(store, plan, train_plan(store, plan, common, reporter, log))
        verdicts = [evaluate_check(c, data, rec) for c in rec.checks]
        for v in verdicts:
            log(f"   {v.line()}")
        reports, figures = {}, []
        for key, sd in data.items():
            if not study_reports:
                continue
            paths, not_logged = write_study_report(sd, out / rec.name / key, log=log_reports)
            if not_logged:
                log(f"   note: {not_logged}")
            reports[key] = paths
            if len(paths) == 1:
                figures += [f for f in (paths[0].parent / "tpa_test.png", paths[0].parent / "histograms_test.png")
                            if f.exists()]
        rows = [r for sd in data.values() for r in study_rows(sd)]
        results.append({"recipe": rec, "verdicts": verdicts, "rows": rows, "reports": reports, "figures": figures})
    command = "orderlab " + " ".join(sys.argv[1:]) if sys.argv and "orderlab" in sys.argv[0] else \
        f"orderlab reproduce --scale {scale}"
    return write_summary(out, scale, command, results, time.monotonic() - started)
