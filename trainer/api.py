"""The Python API of `orderlab train`: a study's configuration and the function that trains it."""
from __future__ import annotations

import gc
import math
import os
import re
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from orderlab.errors import OrderlabError, counted
from orderlab.trainer.progress import Reporter

SPLITS = ("train", "test")
MAX_SEED = 2**32 - 1        # seeds (and --data-seed) feed torch's and NumPy's generators, scaled
MAX_SEEDS = 100_000


@dataclass
class TrainConfig:
    study: str
    archs: list[str]
    seeds: list[int]
    dataset: str = "digits"
    epochs: float | None = None            # None: the architecture's default
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    batch_size: int | None = None
    augment: bool | None = None            # None: the dataset's default
    record_every: float = 1.0
    record_splits: tuple[str, ...] = ("train", "test")
    train_subset: int | None = None
    test_subset: int | None = None
    data_seed: int = 0
    device: str = "auto"
    data_dir: str | None = None
    download: bool = False
    tracking_uri: str | None = None
    quiet: bool = False
    ensemble: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    # The fix an error names when the study holds this network, or its architecture, trained with
    # other settings; None: the command's own ("... with the study's settings, or use another --study").
    mismatch_fix: str | None = None


def parse_seeds(text: str) -> list[int]:
    """``"0-99"``, ``"0,3,7"``, ``"5"`` or a mix (``"0-4,10"``) -> sorted unique seeds."""
    ranges: list[tuple[int, int]] = []
    for part in str(text).split(","):
        part = part.strip()
        # ASCII digits: \d also took "１" and "٣" as seeds 1 and 3, which no listing writes back
        m = re.fullmatch(r"([0-9]+)\s*-\s*([0-9]+)", part, re.ASCII) or re.fullmatch(r"([0-9]+)()", part, re.ASCII)
        if not m:
            raise OrderlabError(f"bad seed list {text!r}: use a range (0-99), a list (0,3,7) or one seed (5)")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        if a > b:
            raise OrderlabError(f"bad seed range {part!r}: start is after end; write e.g. 0-9")
        if b > MAX_SEED:
            raise OrderlabError(f"seed {b} is too large; seeds go from 0 to {MAX_SEED}")
        ranges.append((a, b))
    # Counted before the set is built: a typo such as 0-99999999999 must not fill the memory.
    if sum(b - a + 1 for a, b in ranges) > MAX_SEEDS:
        raise OrderlabError(f"seed list {text!r} names more than {MAX_SEEDS:,} seeds (counting each range in "
                            f"full), the most one command takes; check the range for a typo, or split it over several commands on one --study")
    seeds: set[int] = set()
    for a, b in ranges:
        seeds.update(range(a, b + 1))
    return sorted(seeds)


def parse_splits(text: str | tuple[str, ...]) -> tuple[str, ...]:
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    bad = [p for p in parts if p not in SPLITS]
    if bad or not parts:
        shown = text if isinstance(text, str) else ",".join(text)
        raise OrderlabError(f"bad --record-splits {shown!r}: use train, test or train,test")
    return tuple(dict.fromkeys(parts))


# Options only networks use: a scikit-learn learner has no optimizer, batches or augmentation.
NETWORK_ONLY = {"optimizer": "--optimizer", "lr": "--lr", "momentum": "--momentum",
                "weight_decay": "--weight-decay", "batch_size": "--batch-size", "augment": "--augment/--no-augment"}


def resolve_hparams(spec, cfg: TrainConfig, augment_default: bool) -> dict[str, Any]:
    """Architecture defaults overridden by what the user set. A learner keeps its own values of the
    network-only options: stored as given, a `--lr` it never used would later refuse new seeds
    asked without it ("trained with lr=0.1")."""
    hp = spec.hyperparameters()
    learner = spec.kind == "sklearn"
    for k in ("epochs", "optimizer", "lr", "momentum", "weight_decay", "batch_size"):
        v = getattr(cfg, k)
        if v is not None and not (learner and k in NETWORK_ONLY):
            hp[k] = v
    if not learner and hp["optimizer"] == "adam" and cfg.momentum is not None:
        # AdamW has no momentum to set (its betas are fixed): kept at the default, as a learner
        # keeps its network-only options
        hp["momentum"] = spec.hyperparameters()["momentum"]
    # a learner keeps the dataset's default, as its runs have always stored (it augments nothing)
    hp["augment"] = augment_default if learner or cfg.augment is None else cfg.augment
    hp["record_every"] = cfg.record_every
    return hp


def check_augment(cfg: TrainConfig, ds, store=None) -> None:
    """``--augment`` crops and flips images; on other data it would do nothing, yet be stored as the
    networks' setting and refuse the study's next seeds asked without it. Accepted where the
    study's networks of these architectures were trained with it before this check (their new
    seeds must be asked as they were)."""
    if cfg.augment and ds.kind != "image":
        from orderlab.store import param_equals
        if store is not None and store.has_study(cfg.study) and any(
                r.arch in cfg.archs and param_equals(r.params.get("augment"), True) for r in store.list_runs(cfg.study)):
            return
        raise OrderlabError(f"--augment crops and flips images, and dataset {cfg.dataset} is {ds.kind} data: "
                            f"leave --augment out")


def check_options_used(cfg: TrainConfig, specs) -> None:
    """Refuse network-only options when every architecture asked for is a learner: they would do
    nothing. Beside a network they are that network's, and the learners ignore them. So with
    ``--momentum`` where every network trains with AdamW (an SGD network beside them takes it). A
    learner whose stages are whole rounds or trees refuses a fraction of one (it would train fewer
    stages than its run says)."""
    from orderlab.trainer.learners import WHOLE_STAGES
    whole = [s.name for s in specs if s.name in WHOLE_STAGES]
    if whole and cfg.epochs is not None and cfg.epochs != int(cfg.epochs):
        raise OrderlabError(f"--epochs {cfg.epochs:g} is not a whole number, and {' and '.join(whole)} "
                            f"train{'s' if len(whole) == 1 else ''} in whole stages (boosting rounds or trees); "
                            f"give a whole number, e.g. --epochs {math.ceil(cfg.epochs):d}")
    nets = [s for s in specs if s.kind != "sklearn"]
    adam = [s.name for s in nets if (cfg.optimizer or s.hyperparameters()["optimizer"]) == "adam"]
    if cfg.momentum is not None and nets and len(adam) == len(nets):
        one = len(adam) == 1
        default = "" if cfg.optimizer else f" ({'its' if one else 'their'} default optimizer)"
        fix = "--optimizer sgd in place of adam" if cfg.optimizer else "add --optimizer sgd"
        raise OrderlabError(f"--momentum sets SGD's momentum, and {', '.join(adam)} train{'s' if one else ''} with "
                            f"AdamW{default}, which has none: {fix}, or drop --momentum")
    if nets:
        return
    given = [flag for k, flag in NETWORK_ONLY.items() if getattr(cfg, k) is not None]
    if given:
        one = len(cfg.archs) == 1
        raise OrderlabError(f"{', '.join(given)} set{'s' if len(given) == 1 else ''} how networks train; the "
                            f"learner{'' if one else 's'} {', '.join(cfg.archs)} "
                            f"do{'es' if one else ''} not use {'it' if len(given) == 1 else 'them'}: drop "
                            f"{'it' if len(given) == 1 else 'them'} (--epochs sets a learner's stages)")


STREAM_ENV = "ORDERLAB_STREAM_DATA"


def stream_setting() -> bool | None:
    """``ORDERLAB_STREAM_DATA``: True (1: stream the data from host memory), False (0: never), None
    (unset: stream what does not fit the device). Any other value is refused, not ignored."""
    value = os.environ.get(STREAM_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise OrderlabError(f"{STREAM_ENV}={value!r} is not 0 or 1; set it to 1 to stream the data from host "
                            f"memory, 0 to keep it on the device, or unset it to let orderlab choose")
    return None if not value else value == "1"


MAX_EPOCHS = 1_000_000      # epochs, or a learner's stages: far beyond any study, short of absurd


def validate(cfg: TrainConfig) -> None:
    """Reject bad numbers before anything is created in the store."""
    stream_setting()
    if not cfg.archs:
        raise OrderlabError("no architecture given; add --arch NAME (see `orderlab archs`)")
    cfg.archs = list(dict.fromkeys(cfg.archs))      # `-a mlp -a mlp` names one architecture, not two
    if not cfg.seeds:
        raise OrderlabError("no seed given; use --seeds 0-9")
    bad_seeds = [s for s in cfg.seeds if not 0 <= s <= MAX_SEED]
    if bad_seeds:
        raise OrderlabError(f"seed {bad_seeds[0]} is out of range; seeds go from 0 to {MAX_SEED}")
    if not 0 <= cfg.data_seed <= MAX_SEED:
        raise OrderlabError(f"--data-seed must be between 0 and {MAX_SEED} (got {cfg.data_seed})")
    if cfg.epochs is not None and not 0 < cfg.epochs < math.inf:
        raise OrderlabError(f"--epochs must be a positive number (got {cfg.epochs})")
    if cfg.epochs is not None and cfg.epochs > MAX_EPOCHS:   # (advised to "record less often" otherwise)
        raise OrderlabError(f"--epochs {cfg.epochs:g} is more than {MAX_EPOCHS:,}; train for fewer epochs "
                            f"(or stages)")
    if cfg.batch_size is not None and cfg.batch_size <= 0:
        raise OrderlabError(f"--batch-size must be positive (got {cfg.batch_size})")
    if cfg.lr is not None and not 0 < cfg.lr < math.inf:
        raise OrderlabError(f"--lr must be a positive number (got {cfg.lr})")
    for name, v in (("--momentum", cfg.momentum), ("--weight-decay", cfg.weight_decay)):
        if v is not None and not 0 <= v < math.inf:
            raise OrderlabError(f"{name} must be zero or a positive number (got {v})")
    if not 0 < cfg.record_every < math.inf:
        raise OrderlabError(f"--record-every must be a positive number (got {cfg.record_every})")
    for name, v in (("--train-subset", cfg.train_subset), ("--test-subset", cfg.test_subset)):
        if v is not None and v <= 0:
            raise OrderlabError(f"{name} must be positive (got {v})")
    if not (cfg.device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", cfg.device)):
        raise OrderlabError(f"unknown device {cfg.device!r}; use auto, cpu, cuda or cuda:N")
    if cfg.optimizer is not None and cfg.optimizer not in ("sgd", "adam"):
        raise OrderlabError(f"unknown optimizer {cfg.optimizer!r}; use sgd or adam (adam is AdamW: Adam with "
                            f"decoupled weight decay)")
    if cfg.ensemble < 1:
        raise OrderlabError(f"--ensemble must be at least 1 (got {cfg.ensemble})")
    check_study_name(cfg.study)
    parse_splits(cfg.record_splits)


# A study's artifacts lie in a folder named after it (one name of at most 255 bytes on common file
# systems, with room left for the store's own suffixes); MLflow caps an experiment's name at 500.
STUDY_NAME_BYTES = 200


def check_study_name(name: str) -> None:
    """Refuse a study name no study can have, before anything is recorded: "." and ".." put its
    runs beside other studies' folders; with spaces around it, it is shown without them and could
    not be typed back. (A new study's name is held to more: :func:`check_new_study_name`.)"""
    bad = f"bad study name {name!r}"
    if not name.strip():
        raise OrderlabError(f"{bad}: it is empty; name the study with --study, e.g. --study digits-mlp")
    if "/" in name or name in (".", ".."):
        raise OrderlabError(f"{bad}: a study names a folder of the store; use a name without '/' that is not "
                            f"'.' or '..'")
    if name != name.strip():
        raise OrderlabError(f"{bad}: it starts or ends with a space; use {name.strip()!r}")


def is_new_study(store, name: str) -> bool:
    """Whether ``store`` has no study ``name`` yet, after refusing a name that a study made now
    cannot have (:func:`check_new_study_name`): `train` and `sweep` ask before anything is made."""
    new = not store.has_study(name)
    if new:
        check_new_study_name(name)
    return new


def check_new_study_name(name: str) -> None:
    """:func:`check_study_name`, and what a study made now must not hold: a name too long for its
    folder crashed after the study was made (an empty study stayed behind), and a newline or an
    escape code broke every table that lists it. A study made before these rules keeps its name
    (train and sweep still add to it)."""
    check_study_name(name)
    bad = f"bad study name {name!r}"
    # (joiners stay: Persian and emoji sequences need them; bidirectional marks reorder what is
    # shown, and tags (flag emoji of regions) are refused with them)
    control = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
                    and c not in "\u200c\u200d"), None)
    if control is not None:
        raise OrderlabError(f"{bad}: it holds the control character {control!r}; use printable characters only")
    size = len(name.encode("utf-8"))
    if size > STUDY_NAME_BYTES:
        raise OrderlabError(f"bad study name {name[:40]!r}… ({size} bytes as UTF-8): a study names a folder of the "
                            f"store; use a name of at most {STUDY_NAME_BYTES} bytes")


def network_params(cfg: TrainConfig, arch: str, seed: int, hp: dict[str, Any], ds) -> dict[str, Any]:
    """Everything about one network, logged as MLflow params (and enough to resume it)."""
    return {"arch": arch, "seed": seed, "dataset": cfg.dataset, "data_seed": cfg.data_seed,
            "train_subset": cfg.train_subset, "test_subset": cfg.test_subset,
            "record_splits": ",".join(cfg.record_splits), "device": cfg.device, "data_dir": cfg.data_dir,
            "n_train": len(ds.y_train), "n_test": len(ds.y_test), "n_classes": ds.n_classes,
            "input_shape": "x".join(map(str, ds.input_shape)), **hp}


def _differences(run, hp: dict[str, Any], record_splits: tuple[str, ...] | None) -> list[str]:
    from orderlab.store import param_equals
    from orderlab.trainer.learners import LEARNERS
    # A learner's network-only options changed nothing it did: runs made before learners stopped
    # storing them (`--arch knn --arch mlp --lr 0.01` stored lr=0.01 for knn too) still match.
    # Nor did --momentum an AdamW network's (runs made before it kept the default stored it).
    ignored = NETWORK_ONLY if run.arch in LEARNERS else ("momentum",) if run.params.get("optimizer") == "adam" else ()
    diff = [f"{k}={run.params.get(k)} (asked: {v})" for k, v in hp.items()
            if k in run.params and k not in ignored and not param_equals(run.params.get(k), v)]
    if record_splits is not None and "record_splits" in run.params \
            and set(run.params["record_splits"].split(",")) != set(record_splits):
        diff.append(f"record_splits={run.params['record_splits']} (asked: {','.join(record_splits)})")
    return diff


def _with_data(run, diff: list[str], data: dict[str, Any] | None) -> list[str]:
    """``diff`` led by the data options that differ too: a refusal over `epochs` alone hid that the
    command also named another dataset. Data options alone refuse nothing here: the study's check
    of the data itself decides (a subset larger than the split was once the whole split)."""
    return (_differences(run, data, None) if diff and data else []) + diff


def check_same_settings(run, hp: dict[str, Any], record_splits: tuple[str, ...], command: str,
                        fix: str | None = None, data: dict[str, Any] | None = None) -> None:
    """A study holds one network per (architecture, seed): a run already there must have been trained
    with the settings asked for now, or the command would mix two trainings under one name."""
    diff = _with_data(run, _differences(run, hp, record_splits), data)
    if diff:
        fix = fix or f"{command} with the study's settings, or use another --study"
        raise OrderlabError(f"study {run.study!r} already has {run.name} ({run.status}, run {run.run_id[:8]}) "
                            f"trained with {', '.join(diff)}; a study holds one network per architecture and "
                            f"seed: {fix}")


def check_alike(peer, hp: dict[str, Any], command: str, fix: str | None = None,
                data: dict[str, Any] | None = None) -> None:
    """New seeds of an architecture the study has are trained as its networks were: the analysis
    compares networks of one architecture that differ only by seed (and other checkpoints would
    leave them aligned on the few they share, or refuse them). The splits recorded may differ:
    analysis names networks that lack one, and the fix it gives is to train them with both."""
    diff = _with_data(peer, _differences(peer, hp, None), data)
    if diff:
        raise OrderlabError(f"study {peer.study!r} has {peer.arch} networks trained with other settings than "
                            f"asked ({peer.name}, run {peer.run_id[:8]}: {', '.join(diff)}); the networks of one "
                            f"architecture in a study differ only by seed: "
                            + (fix or f"{command} with the study's settings (`orderlab runs {peer.study}` lists "
                                      f"them), or use another --study"))


@dataclass
class Existing:
    """How the networks asked for stand in the study: new ones to train, FINISHED ones to skip,
    RUNNING ones (another process) to leave alone, interrupted ones to resume, and (with claims)
    those another planning process has claimed, left to it."""
    new: dict[str, list[int]]
    skipped: list[str]
    busy: list[str]
    resume: dict[str, list[str]]
    elsewhere: list[str] = field(default_factory=list)                        # messages: who has which
    claimed: list[str] = field(default_factory=list)                          # the names of those networks
    network_of: dict[str, tuple[str, int]] = field(default_factory=dict)     # resumed run id -> (arch, seed)

    def left_alone(self) -> list[str]:
        """One message per network (or holder) this plan leaves to another process."""
        return running_elsewhere(self.busy) + self.elsewhere

    def networks(self) -> set[tuple[str, int]]:
        """The networks this plan trains or resumes."""
        return {(a, s) for a, seeds in self.new.items() for s in seeds} | set(self.network_of.values())

    def only(self, held: set[tuple[str, int]]) -> None:
        """Keep only the networks in ``held`` to train or resume."""
        self.new = {a: kept for a, seeds in self.new.items() if (kept := [s for s in seeds if (a, s) in held])}
        self.resume = {a: kept for a, ids in self.resume.items()
                       if (kept := [i for i in ids if self.network_of[i] in held])}
        self.network_of = {i: n for i, n in self.network_of.items() if n in held}


def running_elsewhere(names: list[str]) -> list[str]:
    return [f"{name} is RUNNING in another process; left alone" for name in names]


def network_runs(runs) -> dict[tuple[str, int], Any]:
    """The run that is each (architecture, seed)'s network (see ``store.one_run_per_network``)."""
    from orderlab.store import one_run_per_network
    return {(r.arch, r.seed): r for r in one_run_per_network(runs)}


def data_options(cfg: TrainConfig) -> dict[str, Any]:
    """The options that choose a study's data, as its networks' params (and its parent run's) name them."""
    from orderlab.store import DATA_OPTIONS
    return {k: getattr(cfg, k) for k in DATA_OPTIONS}


def peer_run(latest: dict[tuple[str, int], Any], arch: str) -> Any:
    """A run of ``arch`` in the study (``latest``: network -> its run) that new seeds must match:
    the lowest seed's, a replaced run aside; None when the study has none."""
    from orderlab.store import TAG_SUPERSEDED
    return next((r for (a, _), r in sorted(latest.items()) if a == arch and not r.tags.get(TAG_SUPERSEDED)), None)


def _sort_existing(cfg: TrainConfig, store, hps: dict[str, dict[str, Any]], command: str) -> Existing:
    from orderlab.store import TAG_SUPERSEDED, StoreError
    try:
        latest = network_runs(store.list_runs(cfg.study))
    except StoreError:      # a new study
        latest = {}
    ex = Existing({}, [], [], {})
    # named with a refusal (the study's own check of the data comes later, once the data is loaded)
    data = data_options(cfg)
    for arch in cfg.archs:
        for s in cfg.seeds:
            r = latest.get((arch, s))
            if r is None or r.tags.get(TAG_SUPERSEDED):     # none, or only a replaced run whose replacement is gone
                ex.new.setdefault(arch, []).append(s)
                continue
            check_same_settings(r, hps[arch], cfg.record_splits, command, cfg.mismatch_fix, data)
            if r.status == "FINISHED":
                ex.skipped.append(r.name)
            elif r.status == "RUNNING":
                ex.busy.append(r.name)
            else:
                ex.resume.setdefault(arch, []).append(r.run_id)
                ex.network_of[r.run_id] = (arch, s)
        peer = peer_run(latest, arch)
        if peer is not None and arch in ex.new:     # new seeds are trained as the architecture's networks were
            check_alike(peer, hps[arch], command, cfg.mismatch_fix, data)
    return ex


def _declare_settings(cfg: TrainConfig, hps: dict[str, dict[str, Any]], command: str, claims) -> None:
    """Refuse an architecture another live command is training into the study with other settings:
    started at once on other seeds, neither would find the other's runs to check against."""
    data = data_options(cfg)
    conflicts = claims.declare({arch: {**data, **hp} for arch, hp in hps.items()})
    if not conflicts:
        return
    from types import SimpleNamespace
    arch, (pid, theirs) = next(iter(conflicts.items()))
    # compared as a run's logged params are (strings, as MLflow keeps them)
    declared = SimpleNamespace(arch=arch, params={k: None if v is None else str(v) for k, v in theirs.items()})
    diff = _differences(declared, {**data, **hps[arch]}, None)
    raise OrderlabError(f"another orderlab process (pid {pid}) is training {arch} networks into study "
                        f"{cfg.study!r} with other settings ({', '.join(diff) or 'see its command'}); the networks "
                        f"of one architecture in a study differ only by seed: {command} with that process's "
                        f"settings, or use another --study")


def sort_existing(cfg: TrainConfig, store, hps: dict[str, dict[str, Any]], command: str, claims) -> Existing:
    """What each network asked for needs. The networks to train or resume are claimed first
    (``claims``: orderlab.claims.Claims) and the study read again with the claims held, so that two
    commands started at once never both train or resume one network; those another process has
    claimed are left to it (``elsewhere``)."""
    from orderlab.claims import claim_plan, left_to_others
    _declare_settings(cfg, hps, command, claims)
    ex, others = claim_plan(claims, lambda: _sort_existing(cfg, store, hps, command), Existing.networks)
    ex.elsewhere, ex.claimed = left_to_others(others, ex.networks())
    ex.only(claims.held)
    claims.release(claims.held - ex.networks())     # skipped after all: others may have them
    return ex


def train_study(cfg: TrainConfig, reporter: Reporter | None = None) -> list[str]:
    """Train every (architecture, seed) of ``cfg`` into the study; returns the run ids.

    Ctrl-C ends the current run KILLED (its checkpoints stay) and re-raises KeyboardInterrupt.
    """
    from orderlab.store import Store
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.models import get_arch

    validate(cfg)
    cfg.record_splits = parse_splits(cfg.record_splits)
    specs = [get_arch(a) for a in cfg.archs]
    check_options_used(cfg, specs)
    needs_torch = any(s.kind == "torch" for s in specs)
    device = None
    if needs_torch:     # before the store and the study exist: a bad --device leaves nothing behind
        from orderlab.trainer.loop import resolve_device
        device = resolve_device(cfg.device)
    store = Store(cfg.tracking_uri)
    new = is_new_study(store, cfg.study)
    ds = load_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, train_subset=cfg.train_subset,
                      test_subset=cfg.test_subset, data_seed=cfg.data_seed, strict_subsets=new)
    hps = check_for_data(cfg, specs, ds, store)

    reporter = reporter or Reporter()
    from orderlab.claims import Claims
    with Claims(store, cfg.study) as claims:
        return _train_planned(cfg, store, ds, specs, hps, device, reporter, claims)


def check_for_data(cfg: TrainConfig, specs, ds, store=None) -> dict[str, dict[str, Any]]:
    """What ``cfg`` is refused for on the data ``ds`` (an architecture that takes other data,
    --augment on data that is no images, a --record-every that does not fit the training); the
    hyperparameters of each architecture otherwise. ``cfg`` passed :func:`validate` and
    :func:`check_options_used`."""
    from orderlab.trainer.models import check_compatible
    for spec in specs:
        check_compatible(spec, ds.kind, cfg.dataset)
    check_augment(cfg, ds, store)
    hps = {arch: resolve_hparams(spec, cfg, ds.augment_default) for arch, spec in zip(cfg.archs, specs)}
    for arch, hp in hps.items():
        check_record_every(arch, hp)
    return hps


def precheck(cfg: TrainConfig, ds, store=None) -> None:
    """Everything :func:`train_study` refuses ``cfg`` for before it trains, on data ``ds`` (its ``kind`` and
    ``augment_default`` are read): for a caller that checks many trainings before it starts the first
    (reproduce's recipes)."""
    from orderlab.trainer.models import get_arch
    validate(cfg)
    specs = [get_arch(a) for a in cfg.archs]
    check_options_used(cfg, specs)
    check_for_data(cfg, specs, ds, store)


def plan_record(cfg: TrainConfig) -> dict[str, Any]:
    """What :meth:`Store.write_sweep_plan` keeps of a `train` or `sweep`: its networks and training
    settings; not where it ran (store, device, ensemble size: `sweep --resume` gives those)."""
    d = asdict(cfg)
    d["record_splits"] = list(cfg.record_splits)
    for key in ("study", "tracking_uri", "device", "ensemble", "quiet", "mismatch_fix"):
        d.pop(key, None)
    if d.get("data_dir"):               # a resume may run from another folder
        d["data_dir"] = os.path.abspath(os.path.expanduser(d["data_dir"]))
    return d


def _train_planned(cfg: TrainConfig, store, ds, specs, hps, device, reporter: Reporter, claims) -> list[str]:
    from orderlab.trainer.run import prepare_study
    # Running the same command again completes the study: FINISHED networks are skipped and
    # interrupted ones resumed, so no (architecture, seed) is ever trained twice into one study.
    existing = sort_existing(cfg, store, hps, "train them", claims)
    ctx = prepare_study(store, cfg.study, ds, cfg.record_splits,
                        params={**data_options(cfg), "n_train": len(ds.y_train), "n_test": len(ds.y_test)})
    store.plan_archs(cfg.study, cfg.archs)     # listed with the study before their networks start
    # as a sweep does: `sweep --resume` then also starts the networks an interrupted train never reached
    store.write_sweep_plan(cfg.study, plan_record(cfg))
    for line in existing.left_alone():
        reporter.message(line)
    if existing.skipped:
        reporter.message(f"{counted(len(existing.skipped), 'network')} already FINISHED in study {cfg.study!r}: "
                         f"{', '.join(existing.skipped)}; skipped")
    data = None
    device_name = "cpu"
    if device is not None:
        from orderlab.trainer.loop import make_device_data
        device_name = str(device)
        data = make_device_data(ds, device)
    jobs = [(arch, spec, seed) for arch, spec in zip(cfg.archs, specs) for seed in existing.new.get(arch, [])]
    run_ids: list[str] = []
    with frozen_gc():
        if existing.resume:
            from orderlab.trainer.resume import resume_runs
            ids = [i for arch in cfg.archs for i in existing.resume.get(arch, [])]
            reporter.message(f"resuming {counted(len(ids), 'interrupted network')} of study {cfg.study!r}")
            run_ids += resume_runs(ids, store=store, device=cfg.device, reporter=reporter, ensemble=cfg.ensemble)
        if jobs:
            reporter.study_started(cfg.study, len(jobs), cfg.dataset, device_name)
            if cfg.ensemble > 1:
                from orderlab.trainer.ensemble import train_ensembles
                run_ids += train_ensembles(cfg, ctx, jobs, hps, data, reporter)
            else:
                run_ids += train_solo(cfg, ctx, jobs, hps, data, reporter)
    return run_ids


@contextmanager
def frozen_gc():
    """Objects alive at the start set aside from garbage collection while training runs.

    Python's full collections walk every object alive, ~650k once torch, MLflow and SQLAlchemy are
    imported: a 0.25 s pause at random moments of training. Those objects outlive the training
    anyway; frozen, the collector only looks at what training creates. Unfrozen at the end."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def train_solo(cfg: TrainConfig, ctx, jobs, hps: dict[str, dict[str, Any]], data, reporter: Reporter) -> list[str]:
    """Train ``jobs`` ((arch, spec, seed) triples) one network at a time; returns the run ids."""
    from orderlab.trainer.run import NetworkRun
    ds = ctx.dataset
    run_ids: list[str] = []
    for arch, spec, seed in jobs:
        hp = hps[arch]
        run = NetworkRun(ctx, arch, seed, network_params(cfg, arch, seed, hp, ds), float(hp["epochs"]))

        def train(run=run, arch=arch, spec=spec, seed=seed, hp=hp):
            run_ids.append(run.run_id)
            return train_one(run, spec, arch, seed, hp, ds, data, cfg.record_splits, reporter.network_progress)
        train_in_run(run, f"{arch}/s{seed}", reporter, train)
    return run_ids


MAX_CHECKPOINTS = 100_000   # per network: each checkpoint evaluates every recorded example


def check_record_every(arch: str, hp: dict[str, Any]) -> None:
    """Refuse a --record-every that gives no checkpoint before the end, or more than any training
    could use (1e-9 would ask for 10^9 evaluations, and planning them alone would never end)."""
    from orderlab.errors import epoch_text
    from orderlab.trainer.learners import LEARNERS
    every, epochs = float(hp["record_every"]), float(hp["epochs"])
    units = "stages" if arch in LEARNERS else "epochs"      # a learner's training counts stages
    if every > epochs + 1e-9:
        raise OrderlabError(f"--record-every {epoch_text(every)} is larger than the training of {arch} "
                            f"({epoch_text(epochs)} {units}); record more often or train longer")
    if epochs / every > MAX_CHECKPOINTS:
        raise OrderlabError(f"--record-every {epoch_text(every)} asks for {epochs / every:.3g} checkpoints of "
                            f"{arch} over {epoch_text(epochs)} {units}, more than {MAX_CHECKPOINTS:,}; record less "
                            f"often (checkpoints closer than one training step are one step apart anyway)")


def unended_status(run) -> str:
    """What a run that failed is in the store: FAILED, or STALE where that could not be written (a
    tracking server that stopped answering; the progress row said FAILED of a run then STALE)."""
    return "STALE" if run.running and not run.ended else "FAILED"


def train_in_run(run, name: str, reporter: Reporter, train, failed: str = "failed") -> None:
    """Run ``train()`` inside ``run`` (a NetworkRun, opened here) with the reporter's bookkeeping.
    Ctrl-C ends the run KILLED (FINISHED if it lands while the finished run is being closed) and
    is raised again; another error ends it FAILED and is reported,
    and the caller goes on with its other networks, unless it is an OrderlabError (the input's
    fault, which every network would meet), raised again."""
    final: dict[str, float] = {}
    try:
        with run:
            reporter.network_started(name, run.run_id)
            final = train()
    except KeyboardInterrupt:
        if run.running:         # else it stopped before its run was made or reclaimed: nothing to report
            reporter.network_finished(name, run.status or "KILLED", final)
        raise
    except Exception as e:  # noqa: BLE001 - the run is marked FAILED; go on with the others
        reporter.network_finished(name, unended_status(run), final, error=f"{type(e).__name__}: {e}")
        reporter.message(f"[red]{name} {failed}:[/] {type(e).__name__}: {e}")
        if isinstance(e, OrderlabError):
            raise
        return
    for note in run.notes:
        reporter.message(f"[yellow]{name}: {note}[/]")
    reporter.network_finished(name, run.status or "FINISHED", final)


def train_one(run, spec, arch: str, seed: int, hp: dict[str, Any], ds, data, record_splits,
              progress=None, resume_state: dict | None = None) -> dict[str, float]:
    """Train one network inside an open :class:`NetworkRun`."""
    if spec.kind == "sklearn":
        from orderlab.trainer.learners import run_learner
        return run_learner(run, arch, hp, seed, record_splits, progress) or {}
    import torch
    from orderlab.trainer.loop import Hyper, train_network
    torch.manual_seed(seed)
    model = spec.build(ds.input_shape, ds.n_classes, vocab_size=ds.vocab_size)
    h = Hyper(optimizer=hp["optimizer"], lr=float(hp["lr"]), momentum=float(hp["momentum"]),
              weight_decay=float(hp["weight_decay"]), batch_size=int(hp["batch_size"]),
              epochs=float(hp["epochs"]), schedule=hp["schedule"], augment=bool(hp["augment"]),
              record_every=float(hp["record_every"]))
    return train_network(run, model, data, h, seed=seed, record_splits=tuple(record_splits), progress=progress,
                         resume_state=resume_state)
