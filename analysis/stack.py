"""Stacking per-network records of one split into one bit-packed array for analysis.

``Stack.bits[j, e, :]`` is ``np.packbits`` of network ``j``'s correctness at checkpoint ``e`` over the
split's examples. Everything in :mod:`orderlab.analysis` works on this packed form: a study of
100 networks x 200 checkpoints x 50,000 examples is 125 MB packed (1 GB unpacked).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, Iterable, Sequence

import numpy as np

from orderlab.errors import counted, epoch_text, name_list
from orderlab.record import Record, RecordError


def trained_positions(epoch: np.ndarray) -> np.ndarray:
    """The checkpoints accessibility and learning orders count: every one but the untrained
    network's (epoch 0). Its right answers are the classes its random initialisation (or a
    learner's untrained guess) happens to favour, a different class for each seed: counted, they
    add class-sized noise to every example's accessibility, which with few checkpoints outweighs
    the order learned (12 networks on digits, 5 checkpoints: split-half rho within mlp 0.33 with
    it, 0.72 without). A record of the untrained checkpoint alone keeps it."""
    keep = np.flatnonzero(np.asarray(epoch, np.float64) > 0)
    return keep if keep.size else np.arange(len(epoch))


def untrained_notes(names: list[str], n_networks: int) -> list[str]:
    """What the analysis says of networks that have recorded no trained checkpoint (``names``) among
    ``n_networks``: accessibility then counts their untrained one, their initial favourite class."""
    if not names:
        return []
    if len(names) == n_networks:
        return ["no network has recorded a trained checkpoint yet: accessibility and learning orders are the "
                "untrained networks' initial guesses"]
    shown = ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
    one = len(names) == 1
    return [f"{shown} recorded only the untrained checkpoint: beside trained networks, {'its' if one else 'their'} "
            f"accessibility is what {'it' if one else 'they'} got right untrained (the initial favourite class), "
            f"not a learning order"]


# Said of an alignment that keeps few checkpoints: the analysis is not limited to them (an export is).
OWN_CHECKPOINTS = "accessibility, learning orders, learned-at and forgetting use each network's own checkpoints"


def arch_ends(pairs) -> dict[str, float]:
    """The epoch every network of each architecture reached (``pairs``: (arch, last epoch)): the
    least over its networks. An architecture whose networks all trained past the last shared
    checkpoint was cut short by other architectures' grids; one network ahead of the rest (a live
    study) is the alignment note's to name."""
    ends: dict[str, float] = {}
    for a, e in pairs:
        ends[a] = min(ends.get(a, float("inf")), float(e))
    return ends


def paradigms_note(learners: Sequence[str], networks: Sequence[str]) -> list[str]:
    """Said where learners and networks share a stack: one position number is a learner's stage
    (a boosting round, a number of trees, a share of the data) and a network's epoch, not one
    amount of training, so numbers over training that pool them (the "all networks" curves)
    compare unlike stages; each architecture's own, and the ends, compare."""
    if not learners or not networks:
        return []
    ls, ns = ", ".join(dict.fromkeys(learners)), ", ".join(dict.fromkeys(networks))
    return [f"{PARADIGMS}: a position counts stages of {ls} and epochs of {ns}, not one amount of training; "
            f"compare them by architecture or at the end"]


PARADIGMS = "learners beside networks"


SHORT_OF_END = "at the last shared checkpoint"      # how short_of_end_notes' note begins
ALIGNED = "aligned on "                              # how the notes of an alignment begin
NONE_SHARED = "the networks share no trained checkpoint"
UNEVEN_ENDS = "networks end at different"           # what uneven_ends_notes' notes say


def uneven_ends_notes(arch: np.ndarray, ends: np.ndarray, names: Sequence[str],
                      stages: np.ndarray | None = None, half_steps: np.ndarray | None = None) -> list[str]:
    """Architectures whose networks recorded to different ends (``ends``: each network's last
    position; ``names``: how to name each network): measures over each network's own checkpoints
    (accessibility, learning orders, learned-at, forgetting) then pool networks trained for different
    lengths under one architecture, e.g. a study's 4-epoch mlps beside another's 30-epoch ones, or a
    live study's running network beside finished ones. Everything over training stops at the last
    shared checkpoint, which the alignment note says; these measures do not, so this says it."""
    out = []
    for a in dict.fromkeys(arch.tolist()):
        idx = np.flatnonzero(arch == a)
        e = ends[idx]
        lo, hi = float(e.min()), float(e.max())
        # ends a step apart are one length (1.25 epochs: 54 of 43 steps an epoch, 18 of 14)
        tol = 2 * (0.0 if half_steps is None else float(half_steps[idx].max())) + 1e-9
        if hi - lo <= tol:
            continue
        unit = "stage" if stages is not None and stages[idx].all() else "epoch"
        short = [names[i] for i in idx if float(ends[i]) <= lo + tol]
        shown = ", ".join(short[:3]) + (" …" if len(short) > 3 else "")
        out.append(f"{a} {UNEVEN_ENDS} {unit}s ({lo:.6g} to {hi:.6g}; at {lo:.6g}: {shown}): their accessibility, "
                   f"learning orders, learned-at and forgetting count each network's own checkpoints to its own "
                   f"end, pooling networks trained for different lengths; analyse networks trained alike (or a "
                   f"live study's once they have finished)")
    return out
ARCH_HINT = " (--arch NAME follows one architecture to its end)"     # how it ends: the commands' option


def short_of_end_notes(ends: dict[str, float], last: float, untrained: bool = False,
                       stage_archs: Collection[str] = ()) -> list[str]:
    """What aligning on shared checkpoints did to architectures that trained further (``ends``: see
    :func:`arch_ends`; ``last``: the last shared checkpoint): a study mixing 50 boosting rounds with
    10 epochs of an mlp is compared at epoch/stage 10, boosting 10 rounds in. ``untrained``: some
    network recorded only its untrained checkpoint, which :func:`untrained_notes` names as the
    reason when nothing trained is shared. ``stage_archs``: the learners, whose checkpoints count
    stages, not epochs."""
    short = {a: e for a, e in ends.items() if e > last + 1e-9}
    if not short or (last <= 0 and untrained):
        return []
    learners = [a in stage_archs for a in ends]
    unit = "stage" if all(learners) else "epoch/stage" if any(learners) else "epoch"
    if last <= 0:
        return [f"{NONE_SHARED}: every number over training is of untrained networks "
                f"({unit} 0); analyse one architecture at a time (--arch), or train them with matching --epochs "
                f"and --record-every ({OWN_CHECKPOINTS})"]
    names = ", ".join(f"{a} (to {'stage' if a in stage_archs else 'epoch'} {e:.6g})" for a, e in sorted(short.items()))
    one = len(short) == 1
    return [f"{SHORT_OF_END}, {unit} {last:.6g}, {names} had further to train: "
            f"{'its' if one else 'their'} numbers there are of partly trained networks{ARCH_HINT}"]


def half_step(info: dict, record: Record) -> float:
    """How far a network's checkpoints may lie from the positions asked for, in epochs: half a
    training step. A network records on whole steps (``--record-every 0.25`` with 43 steps an epoch
    records at 0.256, with 22 at 0.273), so networks of other batch sizes or data sizes record the
    same checkpoint a little apart. A learner records where asked (0)."""
    if info.get("stages"):
        return 0.0
    epoch, step = np.asarray(record.epoch, np.float64), np.asarray(record.step, np.float64)
    trained = np.flatnonzero(epoch > 0)
    if not trained.size or step[trained[-1]] <= 0:
        return 0.0
    per_epoch = round(step[trained[-1]] / epoch[trained[-1]])
    # positions that are not whole steps of one step size (a record made by other means) are exact
    if per_epoch < 1 or np.abs(step / per_epoch - epoch).max() > 1e-9:
        return 0.0
    return 0.5 / per_epoch


def match_grids(grids: Sequence[np.ndarray], slack: Sequence[float]) -> list[np.ndarray]:
    """The checkpoints every grid shares, as indices into each grid (one array per grid, of one
    length). A position of another grid is the first grid's when it is its nearest and they lie
    within both grids' ``slack`` of each other (see :func:`half_step`; 0: equal), each position
    taken once."""
    ref = np.asarray(grids[0], np.float64)
    if any(len(g) == 0 for g in grids):
        return [np.zeros(0, np.int64) for _ in grids]
    keep = np.ones(len(ref), bool)
    picks = [np.arange(len(ref))]
    for grid, sl in zip(grids[1:], slack[1:]):
        g = np.asarray(grid, np.float64)
        right = np.clip(np.searchsorted(g, ref), 0, len(g) - 1)
        left = np.clip(right - 1, 0, len(g) - 1)
        pick = np.where(np.abs(g[left] - ref) <= np.abs(g[right] - ref), left, right)
        gap = np.abs(g[pick] - ref)
        ok = gap <= slack[0] + sl + 1e-9
        # two of the first grid's positions near one of this grid's: the nearer has it
        for j in np.unique(pick[ok]):
            near = np.flatnonzero(ok & (pick == j))
            ok[near[near != near[np.argmin(gap[near])]]] = False
        keep &= ok
        picks.append(pick)
    return [p[keep] for p in picks]


def unshared_count(grids: Sequence[np.ndarray], slack: Sequence[float], picks: Sequence[np.ndarray]) -> int:
    """Positions recorded by some grid but not shared by all, counting as one those of other grids
    within their slack of each other (two networks' 0.256 and 0.286, which a third lacks, are one
    position; one network's 0.256 and 0.279, a step apart, are two; a position a grid holds twice,
    as an old resumed record holds its untrained checkpoint, is one)."""
    rest = sorted((float(x), sl, j) for j, (g, sl, p) in enumerate(zip(grids, slack, picks))
                  for x in np.delete(np.asarray(g, np.float64), p))
    count, cluster = 0, None             # (its last position, that position's slack, its grids)
    for x, sl, j in rest:
        near = cluster is not None and x - cluster[0] <= cluster[1] + sl + 1e-9
        if near and (j not in cluster[2] or x - cluster[0] <= 1e-9):
            cluster = (x, sl, cluster[2] | {j})
        else:
            count, cluster = count + 1, (x, sl, {j})
    return count


def closeness_note(at: np.ndarray, names: Sequence[str], half_steps: np.ndarray) -> list[str]:
    """What is said when shared checkpoints lie apart (``at``: each network's position at each,
    [n, C]; ``names``: each one's architecture; ``half_steps``: see :func:`half_step`), naming the
    two farthest apart, networks of other step sizes before a learner beside a network (a learner
    records where asked, 0.25, which no network's table shows)."""
    at = np.asarray(at, np.float64)
    if not at.size or (at.max(0) - at.min(0)).max() <= 1e-9:
        return []
    nets = np.flatnonzero(np.asarray(half_steps) > 0)
    rows = nets if nets.size > 1 and (at[nets].max(0) - at[nets].min(0)).max() > 1e-9 else np.arange(len(at))
    sub = at[rows]
    i = int(np.argmax(sub.max(0) - sub.min(0)))
    lo, hi = rows[int(np.argmin(sub[:, i]))], rows[int(np.argmax(sub[:, i]))]
    return [f"{CLOSE} (networks with other steps an epoch record the same checkpoint a little apart; most "
            f"apart: {names[lo]} {epoch_text(float(at[lo, i]))} and {names[hi]} {epoch_text(float(at[hi, i]))})"]


CLOSE = "checkpoints less than a training step apart were taken as one"


def _trained(stack: "Stack") -> np.ndarray:
    """Each network's architecture as trained: notes naming it with its study ("s1:mlp/s0") would
    otherwise prefix a label the TUI already prefixed ("s1:s1:mlp")."""
    return stack.arch if stack.trained_arch is None else stack.trained_arch


@dataclass
class Stack:
    split: str
    bits: np.ndarray                 # uint8 [n, C, ceil(N/8)]
    n_examples: int
    epoch: np.ndarray                # float64 [C]
    step: np.ndarray                 # int64 [C]
    arch: np.ndarray                 # str [n]
    seed: np.ndarray                 # int64 [n]
    run_id: np.ndarray               # str [n]
    example_id: np.ndarray           # int64 [N]
    label: np.ndarray                # int64 [N]
    fingerprint: str
    predicted: np.ndarray | None = None   # small int [n, C, N], only when asked for
    study: str = ""
    warnings: list[str] = field(default_factory=list)
    # Set when networks recorded different checkpoint grids and the stack keeps the ones they share:
    # at how many of its *own* checkpoints each network got each example right, scaled to
    # ``own_scale`` checkpoints (uint32 [n, N]). Accessibility and learning orders use these (a
    # learner's stages and a network's epochs align on little more than the untrained checkpoint);
    # TPA and everything over training use the shared checkpoints.
    own_totals: np.ndarray | None = None
    own_scale: int = 0
    # Some network recorded checkpoints past the last one kept: that one is no network's "final".
    cut_short: bool = False
    # Networks that have recorded no trained checkpoint (bool [n]; None: none such): accessibility
    # counts their untrained one (see untrained_notes).
    untrained: np.ndarray | None = None
    # Networks whose checkpoints count a learner's stages (boosting rounds, trees, passes, fractions
    # of the data), not epochs (bool [n]; None: none such): what is shown names the positions so.
    stages: np.ndarray | None = None
    # Set with ``own_totals``: each network's learned-at (epoch on its own grid, NaN: never; float64
    # [n, N]) and forgetting events (int32 [n, N]) over its own checkpoints, so that an
    # architecture's are the same beside others on other grids as alone (the shared grid of an
    # mlp's and a learner's checkpoints hides forgetting and puts learning late).
    own_learned: np.ndarray | None = None
    own_forgetting: np.ndarray | None = None
    # The studies stacked, each by its name (``study`` joins them with "+", for a reader; a
    # command names them one by one)
    studies: tuple[str, ...] = ()
    # Set with ``own_totals``: each network's last recorded position (float64 [n]), where its
    # measures over its own checkpoints end (see uneven_ends_notes)
    ends: np.ndarray | None = None
    # How far each network's positions may lie from those asked for: half its training step (see
    # half_step; float64 [n]; None: all 0, learners' and records not on whole steps)
    half_steps: np.ndarray | None = None
    # Set when networks recorded the shared checkpoints at positions a little apart (other steps an
    # epoch: an mlp's 0.256 beside a cnn's 0.286, see match_grids), or at other steps (an mlp's 43
    # a epoch beside a cnn's 22, or a learner's stages): each network's own position, or step, at
    # each kept checkpoint (float64 / int64 [n, C]). ``epoch`` and ``step`` are the first
    # network's; a selection of networks that agree shows theirs.
    positions: np.ndarray | None = None
    steps: np.ndarray | None = None
    # The architecture each network was trained as, where ``arch`` groups them under other names
    # (the TUI's "s1:mlp" comparing studies); random half-splits are drawn by it, so the same
    # networks give the same learning-order numbers under either name (str [n]; None: ``arch``)
    trained_arch: np.ndarray | None = None

    @property
    def slack(self) -> float:
        """How far ``epoch``'s positions (the first network's) may lie from those asked for."""
        return 0.0 if self.half_steps is None or not self.n_networks else float(self.half_steps[0])

    # -- shape -------------------------------------------------------------
    @property
    def n_networks(self) -> int:
        return int(self.bits.shape[0])

    @property
    def n_checkpoints(self) -> int:
        return int(self.bits.shape[1])

    @property
    def archs(self) -> list[str]:
        """Architectures in order of first appearance."""
        seen: dict[str, None] = {}
        for a in self.arch:
            seen.setdefault(str(a), None)
        return list(seen)

    def arch_index(self, arch: str) -> np.ndarray:
        return np.flatnonzero(self.arch == arch)

    # -- access ------------------------------------------------------------
    def correct(self, checkpoint: int | None = None, networks: Sequence[int] | np.ndarray | None = None
                ) -> np.ndarray:
        """Unpacked correctness: bool [n, N] at one checkpoint, or [n, C, N] for all (memory!)."""
        b = self.bits if networks is None else self.bits[np.asarray(networks)]
        b = b if checkpoint is None else b[:, checkpoint]
        return np.unpackbits(b, axis=-1, count=self.n_examples).astype(bool)

    def select(self, networks: Sequence[int] | np.ndarray) -> "Stack":
        idx = np.asarray(networks)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        epoch, step, positions, steps = self.epoch, self.step, self.positions, self.steps
        if positions is not None and idx.size:        # the selected networks' own positions
            positions, epoch = _apart(positions[idx]), positions[idx[0]]
        if steps is not None and idx.size:
            steps, step = _apart(steps[idx]), steps[idx[0]]
        return Stack(self.split, self.bits[idx], self.n_examples, epoch, step, self.arch[idx],
                     self.seed[idx], self.run_id[idx], self.example_id, self.label, self.fingerprint,
                     None if self.predicted is None else self.predicted[idx], self.study, list(self.warnings),
                     None if self.own_totals is None else self.own_totals[idx], self.own_scale, self.cut_short,
                     None if self.untrained is None else self.untrained[idx],
                     None if self.stages is None else self.stages[idx],
                     None if self.own_learned is None else self.own_learned[idx],
                     None if self.own_forgetting is None else self.own_forgetting[idx], self.studies,
                     None if self.ends is None else self.ends[idx],
                     None if self.half_steps is None else self.half_steps[idx], positions, steps,
                     None if self.trained_arch is None else self.trained_arch[idx])

    @property
    def unit(self) -> str:
        """What a checkpoint's position counts: "epoch", "stage" (learners) or "epoch/stage" (both)."""
        return self.unit_of(np.arange(self.n_networks))

    def unit_of(self, idx: np.ndarray) -> str:
        """:attr:`unit` of the networks ``idx`` (e.g. one architecture's)."""
        stages = np.zeros(0, bool) if self.stages is None else self.stages[np.asarray(idx, np.int64)]
        if not stages.any():
            return "epoch"
        return "stage" if stages.all() else "epoch/stage"

    @property
    def units(self) -> str:
        """:attr:`unit` in the plural: "epochs", "stages" or "epochs/stages"."""
        return "/".join(f"{u}s" for u in self.unit.split("/"))

    def own_positions(self, networks: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(positions, steps) of the networks ``networks`` (e.g. one architecture's) at each
        checkpoint: the first one's own, without copying the stack as :meth:`select` does; the
        steps None where those networks took different steps to get there."""
        idx = np.asarray(networks, np.int64)
        j = int(idx[0]) if idx.size else 0
        epoch = self.epoch if self.positions is None else self.positions[j]
        if self.steps is None:
            return epoch, self.step
        return epoch, (self.steps[j] if _apart(self.steps[idx]) is None else None)

    def recorded_near(self, checkpoint: int, epoch: float) -> bool:
        """Whether some network recorded ``checkpoint`` within its half step of ``epoch``: a
        position a user reads in one architecture's table is that checkpoint, whoever is first."""
        own = self.positions[:, checkpoint] if self.positions is not None else np.full(self.n_networks,
                                                                                       self.epoch[checkpoint])
        tol = (self.half_steps if self.half_steps is not None else np.zeros(self.n_networks)) + 1e-9
        return bool((np.abs(own - float(epoch)) <= tol).any())

    def span(self, checkpoint: int) -> tuple[float, float]:
        """The first and last of the networks' own positions at ``checkpoint``: one checkpoint of
        networks of other batch sizes lies a little apart (an mlp's 0.256, a cnn's 0.286)."""
        if self.positions is None or not self.n_networks:
            return float(self.epoch[checkpoint]), float(self.epoch[checkpoint])
        own = self.positions[:, checkpoint]
        return float(own.min()), float(own.max())

    def at(self, checkpoint: int) -> str:
        """Checkpoint ``checkpoint``'s position for a reader, e.g. "epoch 2.5" or "stage 30"; "epoch
        0.256–0.286" where the networks recorded it a little apart (not the first network's alone)."""
        lo, hi = (epoch_text(x) for x in self.span(checkpoint))
        return f"{self.unit} {lo if lo == hi else f'{lo}–{hi}'}"

    def at_of(self, checkpoint: int, networks: Sequence[int] | np.ndarray) -> str:
        """:meth:`at` as the networks ``networks`` (one architecture's) recorded it: their unit and
        their own position ("stage 0.25" of a learner where the first network, a cnn, is at 0.286)."""
        return f"{self.unit_of(networks)} {epoch_text(self.own_positions(networks)[0][checkpoint])}"

    def totals_on_own_grids(self) -> tuple[np.ndarray, int]:
        """(totals ``[n, N]``, scale): at how many of its own checkpoints each network got each
        example right, out of ``scale``."""
        from orderlab.analysis.metrics import network_totals     # metrics builds on this module
        return network_totals(self), (self.own_scale if self.own_totals is not None
                                      else trained_positions(self.epoch).size)

    def order_on_own_grids(self) -> tuple[np.ndarray, np.ndarray]:
        """(learned-at ``[n, N]`` in epochs, forgetting events ``[n, N]``), each network over its
        own checkpoints."""
        from orderlab.analysis.metrics import forgetting_events, learned_at
        return learned_at(self), forgetting_events(self)

    @classmethod
    def _alone(cls, split: str, bits: np.ndarray, epoch: np.ndarray, n_examples: int) -> "Stack":
        """One network's record (``bits``: uint8 ``[C, B]``) on its own checkpoints, for measures
        of its own."""
        one = np.zeros(1, np.int64)
        return cls(split, bits[None], n_examples, np.asarray(epoch, np.float64), np.zeros(len(epoch), np.int64),
                   np.array([""]), one, np.array([""]), np.arange(n_examples), np.zeros(n_examples, np.int64), "")

    def checkpoint_index(self, epoch: float | None) -> int:
        """Index of the checkpoint nearest to ``epoch`` (None = last)."""
        if epoch is None:
            return self.n_checkpoints - 1
        # clipped first: far outside (1e17) every distance rounds to the same float, and the first won
        at = float(np.clip(float(epoch), self.epoch[0], self.epoch[-1]))
        # halfway between two, the later: 0.5 between epochs 0 and 1 had given the untrained networks
        gap = np.abs(self.epoch - at)[::-1]
        return self.n_checkpoints - 1 - int(np.argmin(gap))

    # -- building ----------------------------------------------------------
    @classmethod
    def from_records(cls, records: Iterable[tuple[dict, Record]], split: str = "test", *,
                     align: str = "strict", keep_predicted: bool = False, study: str = "") -> "Stack":
        """Stack ``(info, record)`` pairs; ``info`` has ``run_id``, ``arch``, ``seed`` and, for a
        learner whose checkpoints are stages, ``stages`` (True).

        ``align="strict"`` refuses networks whose checkpoints differ; ``"common"`` keeps the
        checkpoints all networks share (a warning says what was dropped). Records of different
        data (fingerprints) are always refused.
        """
        items = list(records)
        if not items:
            raise RecordError("no recorded networks to analyse; train some first (`orderlab train`)")
        splits = [r.split(split) for _, r in items]
        fps = {s.fingerprint for s in splits}
        if len(fps) > 1:
            groups: dict[str, list[str]] = {}
            for (info, _), s in zip(items, splits):
                groups.setdefault(s.fingerprint, []).append(f"{info.get('arch')}/s{info.get('seed')}")
            desc = "; ".join(f"{fp}: {', '.join(v[:3])}{'…' if len(v) > 3 else ''}" for fp, v in groups.items())
            raise RecordError(f"records of different data cannot be compared ({split} fingerprints {desc}); "
                              f"analyse studies recorded on the same dataset split and subsets")
        _same_examples([f"{info.get('arch')}/s{info.get('seed')}" for info, _ in items], splits, split)
        warnings: list[str] = []
        epochs = [np.asarray(r.epoch, np.float64) for _, r in items]
        # each network's positions, one of each: runs resumed from their untrained state before
        # 2026-11-25 recorded checkpoint 0 twice, which is no checkpoint the others lack
        firsts = [np.unique(np.round(e, 9), return_index=True)[1] for e in epochs]
        grids = [e[f] for e, f in zip(epochs, firsts)]
        slack = [half_step(info, r) for info, r in items]
        shared = match_grids(grids, slack)                  # into each grid
        picks = [f[p] for f, p in zip(firsts, shared)]      # into each record
        common = grids[0][shared[0]]           # positions as the first network recorded them
        at = np.stack([g[p] for g, p in zip(grids, shared)])
        positions = _apart(at)
        aligned = any(len(p) != len(g) for p, g in zip(shared, grids))
        if aligned or positions is not None:
            if align != "common":
                def same(j: int) -> bool:
                    return grids[j].shape == grids[0].shape and np.abs(grids[j] - grids[0]).max() <= 1e-9
                odd = [f"{info.get('arch')}/s{info.get('seed')}" for j, (info, _) in enumerate(items) if not same(j)]
                # each architecture on one grid of its own (a learner's stages beside an mlp's epochs):
                # one architecture alone needs no alignment
                by_arch: dict[str, set] = {}
                for (info, _), g in zip(items, grids):
                    by_arch.setdefault(str(info.get("arch")), set()).add(tuple(np.round(g, 9).tolist()))
                alone = (" or one architecture alone on its own checkpoints (--arch NAME)"
                         if len(by_arch) > 1 and all(len(g) == 1 for g in by_arch.values()) else "")
                raise RecordError(f"networks recorded different checkpoints ({name_list(odd)} differ from "
                                  f"the first); align them on the checkpoints they share (--align common){alone}")
        if aligned:
            if common.size == 0:
                raise RecordError("the networks share no checkpoint; they cannot be compared")
            most, fewest = max(len(g) for g in grids), min(len(g) for g in grids)
            dropped = unshared_count(grids, slack, shared)
            # name the networks that set the limit: those lacking checkpoints most others have
            short = [f"{info.get('arch')}/s{info.get('seed')}" for (info, _), g in zip(items, grids)
                     if len(g) == fewest] if fewest < most else []
            by = (f"; fewest: {', '.join(short[:4])}{' …' if len(short) > 4 else ''} with {fewest}"
                  if short and len(short) < len(items) else "")
            warnings.append(f"{ALIGNED}{len(common)} common checkpoint{'s' if len(common) != 1 else ''} "
                            f"({dropped} not shared {'was' if dropped == 1 else 'were'} dropped{by}; "
                            f"{OWN_CHECKPOINTS})")
        warnings += closeness_note(at, [str(i.get("arch")) for i, _ in items], np.array(slack))
        untrained = np.array([not (e > 0).any() for e in epochs])
        # where each network trained past the last shared checkpoint (its own position there lies
        # up to a step from the first network's)
        past = [p[-1] < len(e) - 1 for p, e in zip(picks, epochs)]
        if aligned:
            ends = arch_ends((str(info.get("arch")), e[-1] if beyond else common[-1])
                             for (info, _), e, beyond in zip(items, epochs, past))
            warnings += short_of_end_notes(ends, float(common[-1]), bool(untrained.any()),
                                           {str(i.get("arch")) for i, _ in items if i.get("stages")})
        warnings += paradigms_note([str(i.get("arch")) for i, _ in items if i.get("stages")],
                                   [str(i.get("arch")) for i, _ in items if not i.get("stages")])
        warnings += untrained_notes([f"{info.get('arch')}/s{info.get('seed')}" for (info, _), u in zip(items, untrained)
                                     if u], len(items))
        own = net_ends = None
        if aligned:
            net_ends = np.array([float(np.asarray(r.epoch, np.float64)[-1]) for _, r in items])
            warnings += uneven_ends_notes(np.array([str(i.get("arch")) for i, _ in items]), net_ends,
                                          [f"{i.get('arch')}/s{i.get('seed')}" for i, _ in items],
                                          _mask([bool(i.get("stages", False)) for i, _ in items]), np.array(slack))
            trained = [trained_positions(e) for e in epochs]
            counts = [np.unpackbits(s.correct_bits[t], axis=-1, count=s.n_examples).sum(0, dtype=np.uint32)
                      for s, t in zip(splits, trained)]
            own = _on_one_scale([(c[None], t.size) for c, t in zip(counts, trained)])
            orders = [cls._alone(split, s.correct_bits, r.epoch, s.n_examples).order_on_own_grids()
                      for (_, r), s in zip(items, splits)]
            own_order = (np.concatenate([la for la, _ in orders]), np.concatenate([f for _, f in orders]))
        n_b = splits[0].correct_bits.shape[1]
        bits = np.empty((len(items), len(common), n_b), np.uint8)
        pred = None
        if keep_predicted:
            pred = np.empty((len(items), len(common), splits[0].n_examples), splits[0].predicted.dtype)
        steps = None
        for j, ((_, rec), s, pos) in enumerate(zip(items, splits, picks)):
            bits[j] = s.correct_bits[pos]
            if pred is not None:
                pred[j] = s.predicted[pos]
            if steps is None:
                steps = rec.step[pos]
        s0 = splits[0]
        return cls(
            split=split, bits=bits, n_examples=s0.n_examples, epoch=common,
            step=np.asarray(steps, np.int64), arch=np.array([str(i.get("arch")) for i, _ in items]),
            seed=np.array([int(i.get("seed", -1)) for i, _ in items], np.int64),
            run_id=np.array([str(i.get("run_id", "")) for i, _ in items]),
            example_id=s0.example_id, label=s0.label, fingerprint=s0.fingerprint,
            predicted=pred, study=study, warnings=warnings,
            own_totals=None if own is None else own[0], own_scale=0 if own is None else own[1],
            cut_short=any(past),
            untrained=untrained if untrained.any() else None,
            stages=_mask([bool(i.get("stages", False)) for i, _ in items]),
            own_learned=None if own is None else own_order[0], own_forgetting=None if own is None else own_order[1],
            studies=(study,) if study else (), ends=net_ends,
            half_steps=np.array(slack) if any(slack) else None, positions=positions,
            steps=_apart(np.stack([np.asarray(r.step, np.int64)[p] for (_, r), p in zip(items, picks)])))

    @classmethod
    def concat(cls, stacks: Sequence["Stack"], align: str = "common") -> "Stack":
        """Networks of several stacks (e.g. two studies of the same data) as one stack, on the
        checkpoints they share (``align="strict"``: refused unless they all recorded the same)."""
        if len({s.fingerprint for s in stacks}) > 1:
            names = ", ".join(f"{s.study or '?'} ({s.fingerprint})" for s in stacks)
            raise RecordError(f"studies recorded different data and cannot be compared: {names}")
        ids = np.concatenate([s.run_id for s in stacks])
        if len(set(ids.tolist())) < len(ids):
            raise RecordError("the same network is in more than one of the stacks (a study given twice?); "
                              "give each study once")
        picks = match_grids([s.epoch for s in stacks], [s.slack for s in stacks])
        common = stacks[0].epoch[picks[0]]
        if common.size == 0:
            raise RecordError("the studies share no checkpoint; they cannot be compared")
        aligned = any(len(p) != len(s.epoch) for p, s in zip(picks, stacks))
        # every network's own position and step at each kept checkpoint, where they are apart
        own_at = [(s.positions[:, p] if s.positions is not None else np.tile(s.epoch[p], (s.n_networks, 1)),
                   s.steps[:, p] if s.steps is not None else np.tile(s.step[p], (s.n_networks, 1)))
                  for p, s in zip(picks, stacks)]
        every = np.concatenate([a for a, _ in own_at])
        halves = np.concatenate([s.half_steps if s.half_steps is not None else np.zeros(s.n_networks) for s in stacks])
        positions = _apart(every)
        if (aligned or positions is not None) and align != "common":
            # where they differ, not only how many: two studies of 5 checkpoints each differ in place
            counts = "; ".join(f"{s.study or '?'}: {counted(len(s.epoch), 'checkpoint')} at {positions_text(s.epoch)}"
                               for s in stacks)
            raise RecordError(f"the studies recorded different checkpoints ({counts}); align them on the "
                              f"{len(common)} they share (--align common) or compare studies trained alike")
        parts = [s.bits[:, p] for p, s in zip(picks, stacks)]
        s0 = stacks[0]
        warn = [f"{ALIGNED}{len(common)} checkpoint{'s' if len(common) != 1 else ''} common to all studies "
                f"({OWN_CHECKPOINTS})"] if aligned else []
        warn += closeness_note(every, [f"{s.study or '?'}:{a}" for s in stacks for a in _trained(s)], halves)
        # each study's own notes (its alignment, architectures cut short within it), named with the
        # study; its untrained networks are named below, with their study, for all studies at once
        for s in stacks:
            mask = s.untrained if s.untrained is not None else np.zeros(s.n_networks, bool)
            own_untrained = set(untrained_notes([f"{a}/s{sd}" for a, sd, u in zip(_trained(s), s.seed, mask) if u],
                                                s.n_networks))
            # (ends differing within an architecture, checkpoints apart and learners beside networks
            # are said above or below, over all the studies' networks; so is what had further to
            # train at the last checkpoint all share, where that is not the study's own last)
            warn += [f"{s.study or '?'}: {w}" for w in s.warnings if w not in own_untrained and UNEVEN_ENDS not in w
                     and not w.startswith((PARADIGMS, CLOSE) + ((SHORT_OF_END,) if aligned else ()))]
        if aligned:
            # where each network's training ended, not its study's grid (cut back to the checkpoints
            # its own architectures share, that grid said "gradient-boosting (to stage 10)" of 30)
            # (each network's own last shared position lies up to a step from the first study's)
            pairs = []
            for s, (own, _) in zip(stacks, own_at):
                for a, e, last in zip(s.arch, _network_ends(s), own[:, -1]):
                    pairs.append((str(a), e if e > last + 1e-9 else common[-1]))
            ends = arch_ends(pairs)
            learners = {str(a) for s in stacks if s.stages is not None for a in s.arch[s.stages]}
            warn += short_of_end_notes(ends, float(common[-1]), any(s.untrained is not None for s in stacks),
                                       learners)
        own = (_on_one_scale([s.totals_on_own_grids() for s in stacks])
               if aligned or any(s.own_totals is not None for s in stacks) else None)
        own_order = net_ends = None
        if own is not None:
            orders = [s.order_on_own_grids() for s in stacks]
            own_order = (np.concatenate([la for la, _ in orders]), np.concatenate([f for _, f in orders]))
            net_ends = np.concatenate([_network_ends(s) for s in stacks])
            stages = np.concatenate([s.stages if s.stages is not None else np.zeros(s.n_networks, bool)
                                     for s in stacks])
            warn += uneven_ends_notes(np.concatenate([s.arch for s in stacks]), net_ends,
                                      [f"{s.study or '?'}:{a}/s{sd}" for s in stacks
                                       for a, sd in zip(_trained(s), s.seed)],
                                      stages, halves)
        # learners beside networks, in one study or across them
        kinds = [(str(a), bool(x)) for s in stacks
                 for a, x in zip(s.arch, s.stages if s.stages is not None else np.zeros(s.n_networks, bool))]
        warn += paradigms_note([a for a, x in kinds if x], [a for a, x in kinds if not x])
        # each study's networks without a trained checkpoint, named with their study
        masks = [s.untrained if s.untrained is not None else np.zeros(s.n_networks, bool) for s in stacks]
        warn += untrained_notes([f"{s.study or '?'}:{a}/s{sd}" for s, m in zip(stacks, masks)
                                 for a, sd, u in zip(_trained(s), s.seed, m) if u], sum(s.n_networks for s in stacks))
        untrained = np.concatenate(masks)
        at0 = picks[0]
        return cls(s0.split, np.concatenate(parts), s0.n_examples, s0.epoch[at0].astype(np.float64), s0.step[at0],
                   np.concatenate([s.arch for s in stacks]), np.concatenate([s.seed for s in stacks]),
                   np.concatenate([s.run_id for s in stacks]), s0.example_id, s0.label, s0.fingerprint,
                   None, "+".join(s.study for s in stacks), warn,
                   None if own is None else own[0], 0 if own is None else own[1],
                   any(s.cut_short or p[-1] < len(s.epoch) - 1 for p, s in zip(picks, stacks)),
                   untrained if untrained.any() else None,
                   _mask([bool(x) for s in stacks
                          for x in (s.stages if s.stages is not None else np.zeros(s.n_networks, bool))]),
                   None if own_order is None else own_order[0], None if own_order is None else own_order[1],
                   tuple(name for s in stacks for name in (s.studies or (s.study,)) if name), net_ends,
                   halves if halves.any() else None,
                   positions, _apart(np.concatenate([b for _, b in own_at])),
                   None if all(s.trained_arch is None for s in stacks) else
                   np.concatenate([_trained(s) for s in stacks]))


def own_grid_notes(stack: "Stack") -> list[str]:
    """``stack``'s notes for numbers read on each network's own checkpoints alone (accessibility,
    learned-at: `orderlab examples`): those about the shared checkpoints (the alignment, architectures
    cut short there) said of a study mixing boosting's 50 stages with an mlp's epochs that its numbers
    were of partly trained networks, which these are not."""
    if stack.own_totals is None:
        return list(stack.warnings)

    def about_shared(w: str) -> bool:
        # a compared study's own notes begin with its name ("syn: aligned on …")
        return any(w.startswith(m) or f": {m}" in w for m in (ALIGNED, SHORT_OF_END, NONE_SHARED, CLOSE, PARADIGMS))
    return [w for w in stack.warnings if not about_shared(w)] + [
        "the networks recorded different checkpoints: accessibility and learned-at use all of each network's own "
        "checkpoints"]


def positions_text(epoch: np.ndarray, most: int = 5) -> str:
    """Checkpoint positions for a message: all of up to ``most``, else the first few, "…" and the last."""
    texts = [epoch_text(float(e)) for e in epoch]
    return ", ".join(texts) if len(texts) <= most else ", ".join(texts[:most - 2]) + " … " + texts[-1]


def _same_examples(names: list[str], splits: list, split: str) -> None:
    """Refuse records of one fingerprint whose example ids or labels differ: a record edited by hand
    (its ids reversed) would be analysed on the first network's ids. The networks named are those
    apart from the largest group, the records most likely altered."""
    groups: dict[bytes, list[str]] = {}
    for name, s in zip(names, splits):
        key = np.ascontiguousarray(s.example_id, np.int64).tobytes() + b"|" + \
            np.ascontiguousarray(s.label, np.int64).tobytes()
        groups.setdefault(key, []).append(name)
    if len(groups) > 1:
        main = max(groups.values(), key=len)
        odd = [n for g in groups.values() if g is not main for n in g]
        runs, them = ("that network's run", "it") if len(odd) == 1 else ("those networks' runs", "them")
        raise RecordError(f"the {split} records of {name_list(odd)} list other example ids or labels than those of "
                          f"{name_list(main, 2)} under the same data fingerprint (altered by hand?); delete "
                          f"{runs} in MLflow and train {them} again")


def _network_ends(s: "Stack") -> np.ndarray:
    """Each network's last recorded position: its own where the stack was aligned or its networks
    record apart, else the stack's last."""
    if s.ends is not None:
        return s.ends
    return s.positions[:, -1] if s.positions is not None else np.full(s.n_networks, float(s.epoch[-1]))


def _apart(rows: np.ndarray) -> np.ndarray | None:
    """``rows`` (one per network) when they differ, None when every row is the first's."""
    rows = np.asarray(rows)
    return None if not rows.size or np.abs(rows - rows[:1]).max() <= 1e-9 else rows


def _mask(flags: list[bool]) -> np.ndarray | None:
    """A boolean mask, None when no entry is set (the fields' convention)."""
    return np.array(flags, bool) if any(flags) else None


_MAX_SCALE = 1 << 16


def _on_one_scale(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """Totals out of different checkpoint counts (``[(totals [m, N], count)]``) as integers out of
    one count: their least common multiple, exact (or, beyond 65,536, 65,536 with rounding)."""
    import math
    scale, exact = 1, True
    for _, c in parts:            # Python integers: numpy's int64 lcm wraps around silently
        scale = math.lcm(scale, int(c))
        if scale > _MAX_SCALE:
            exact = False
            break
    scale = scale if exact else _MAX_SCALE
    out = []
    for t, c in parts:
        t = np.asarray(t, np.uint64)
        out.append((t * (scale // int(c))) if exact else np.rint(t * (scale / int(c))))
    return np.concatenate(out).astype(np.uint32), scale
