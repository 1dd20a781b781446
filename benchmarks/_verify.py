"""What a benchmark must check before it times anything: every network it trained FINISHED (a run
that fails at its first step ends early and would pass for a fast one), and an ``--ensemble``
side really trained together (an architecture that cannot falls back to one network at a time)."""
from __future__ import annotations

from orderlab.trainer.progress import MessageLog


def check_study(uri: str, study: str, n: int, ensemble: int, messages: MessageLog) -> str | None:
    """None if ``study`` holds ``n`` FINISHED runs, trained as ensembles where ``ensemble`` > 1;
    else one line saying what went wrong (for the benchmark to print instead of a speed)."""
    from orderlab.store import Store
    runs = Store(uri).list_runs(study)
    bad = [r for r in runs if r.status != "FINISHED"]
    if bad or len(runs) != n:
        first = f"{bad[0].name} {bad[0].status}: {bad[0].error}" if bad else "runs missing"
        return f"{len(runs) - len(bad)} of {n} networks finished ({first})"
    if ensemble > 1 and any("ensemble" not in r.params for r in runs):
        why = next((m for m in messages.lines if "falls back" in m), "no reason given")
        return f"trained one at a time, not as an ensemble ({why})"
    return None
