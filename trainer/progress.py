"""Progress reporting for training: rich bars (one per network and one overall) or silence."""
from __future__ import annotations

from typing import Any

from orderlab.errors import counted


class Reporter:
    """Silent reporter (``--quiet``); the base of :class:`RichReporter`."""

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def study_started(self, study: str, n_networks: int, dataset: str, device: str) -> None: ...

    def network_started(self, name: str, run_id: str) -> None: ...

    def network_progress(self, fraction: float, metrics: dict[str, float]) -> None: ...

    def network_finished(self, name: str, status: str, metrics: dict[str, float],
                         error: str | None = None) -> None:
        """``error``: why a FAILED network failed (plain text), also reported by :meth:`message`."""

    def message(self, text: str) -> None: ...


class MessageLog(Reporter):
    """Silent, but keeps the trainer's messages in ``lines`` (why an ensemble fell back, what
    resumed from where): for callers of the API, the benchmarks and the tests."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def progress_bars(console):
    """The bars `train` and `sweep` draw: a name, a bar, the percentage, the times and a last column
    of information (accuracies, loss, lr; a status). Narrower than that needs, the information gives
    way first, item by item with "…" after the last shown, and the bar is a fifth of the width at
    most: at 80 columns the bar had shrunk to 3 cells and the times read "0:…"."""
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Column
    from rich.text import Text

    class Items:
        """An information cell that gives way item by item ("test 0.850", "loss 0.412", two spaces
        apart): a cut in the middle of one left a stub such as "loss 0.…" that read as a value. An
        item is cut with "…" only when it is the first and alone does not fit."""

        def __init__(self, text: Text) -> None:
            self.text = text

        def __rich_measure__(self, console, options):
            from rich.measure import Measurement
            return Measurement(min(8, len(self.text)), len(self.text))

        def __rich_console__(self, console, options):
            width = options.max_width
            kept = self.text
            if len(kept) > width:
                items = self.text.split("  ", allow_blank=False)
                shown = Text("")
                for item in items:
                    joined = item if not shown else Text("  ").join([shown, item])
                    if len(joined) + 2 > width:         # room left for the " …" that says more follows
                        break
                    shown = joined
                kept = Text("").join([shown, Text(" …")]) if shown else self.text
            kept.no_wrap, kept.overflow = True, "ellipsis"
            yield kept

    class Info(ProgressColumn):
        def render(self, task) -> Items:
            return Items(Text.from_markup(str(task.fields.get("info", ""))))

    class Bars(Progress):
        """Drawn with the terminal's "^C" echo off (see hide_control_echo)."""
        _restore = staticmethod(lambda: None)

        def start(self) -> None:
            from orderlab.terminal import hide_control_echo
            if self.console.is_terminal:
                self._restore = hide_control_echo()
            super().start()

        def stop(self) -> None:
            try:
                super().stop()
            finally:
                self._restore()
                self._restore = lambda: None

    # In a pipe or a file the console is 160 wide (see make_console), but its rows are read at a
    # terminal's width too (`train 2>&1 | tee log`): a 32-cell bar wrapped each row there.
    width = console.width if console.is_terminal else min(console.width, 80)
    return Bars(TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
                BarColumn(bar_width=max(10, min(40, width // 5)), table_column=Column(no_wrap=True)),
                TextColumn("{task.percentage:>5.1f}%", table_column=Column(no_wrap=True)),
                TimeElapsedColumn(table_column=Column(no_wrap=True)),
                TimeRemainingColumn(table_column=Column(no_wrap=True)),
                Info(table_column=Column(min_width=8)), console=console, transient=False)


def metrics_text(metrics: dict[str, float]) -> str:
    """A progress row's information: the accuracies first (in a narrow terminal the end of the line
    gives way), then the loss and the learning rate where the trainer reports them."""
    parts = [f"{k.split('_')[0]} {metrics[k]:.3f}" for k in ("test_acc", "train_acc") if k in metrics]
    if "loss" in metrics:
        parts.append(f"loss {metrics['loss']:.3f}")
    if "lr" in metrics:
        parts.append(f"lr {metrics['lr']:.3g}")
    return "  ".join(parts)


class RichReporter(Reporter):
    def __init__(self) -> None:
        from orderlab.terminal import make_console
        self.console = make_console(stderr=True)
        self.progress = progress_bars(self.console)
        self._overall = None
        self._task = None
        self._row_acc: list[float] = []
        self._n = 0             # networks ended (finished or failed)
        self._failed = 0
        self._stale = 0         # failed, and the store could not be told (it shows them STALE)
        self._total = 0

    @property
    def _done(self) -> int:
        """Networks that finished: those ended, less the failed and the stale."""
        return self._n - self._failed - self._stale

    def __enter__(self) -> "RichReporter":
        return self      # the bars start with the first study: an early error prints alone, on one line

    def __exit__(self, *exc: Any) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def study_started(self, study: str, n_networks: int, dataset: str, device: str) -> None:
        if self._overall is not None:      # a second batch of the same command (new after resumed ones)
            self._total += n_networks
            self.progress.update(self._overall, total=self._total, info=f"{self._done}/{self._total} done")
            self.console.print(f"[bold]study[/] {study}: {counted(n_networks, 'more network')}, {self._total} in all")
            return
        self.console.print(f"[bold]study[/] {study}: {counted(n_networks, 'network')} on {dataset}, device {device}")
        if not self.progress.live.is_started:
            self.progress.start()
        self._total = n_networks
        self._overall = self.progress.add_task("all networks", total=n_networks, info=f"0/{n_networks} done")

    def network_started(self, name: str, run_id: str) -> None:
        self._task = self.progress.add_task(name, total=1000, info=f"run {run_id[:8]}")
        self._row_acc: list[float] = []     # an ensemble's row: its members' test accuracies

    def network_progress(self, fraction: float, metrics: dict[str, float]) -> None:
        if self._task is None:
            return
        info = metrics_text(metrics) if metrics else None
        kw = {"info": info} if info is not None else {}
        self.progress.update(self._task, completed=int(fraction * 1000), **kw)
        if self._overall is not None:
            self.progress.update(self._overall, completed=self._n + fraction)

    def network_finished(self, name: str, status: str, metrics: dict[str, float],
                         error: str | None = None) -> None:
        if status == "KILLED":      # interrupted: its bar stays where it stopped, and it is not done
            if self._task is not None:
                self.progress.update(self._task, info=f"[yellow]{status}[/]")
            return
        self._n += 1
        self._failed += status == "FAILED"
        self._stale += status == "STALE"
        if self._task is not None:
            if status in ("FAILED", "STALE"):   # its bar stays where it stopped (it read 100% of a network that died early)
                self.progress.update(self._task, info="[red]FAILED[/]" if status == "FAILED" else "[magenta]STALE[/]")
            else:
                colour = {"FINISHED": "green"}.get(status, "white")
                if "test_acc" in metrics:
                    self._row_acc.append(metrics["test_acc"])
                # an ensemble's members end one after another on its one row: their mean, as it trained
                n = len(self._row_acc)
                acc = ("" if not n else f"  test {self._row_acc[0]:.3f}" if n == 1
                       else f"  test {sum(self._row_acc) / n:.3f} (mean)")
                self.progress.update(self._task, completed=1000, info=f"[{colour}]{status}[/]{acc}")
        if self._overall is not None:
            # ended networks move the overall bar; "done" counts those that finished
            failed = (f", [red]{self._failed} failed[/]" if self._failed else "") + \
                (f", [magenta]{self._stale} stale[/]" if self._stale else "")
            self.progress.update(self._overall, completed=self._n,
                                 info=f"{self._done}/{self._total} done{failed}")

    def message(self, text: str) -> None:
        self.console.print(text)


class Tally(Reporter):
    """Passes everything on to ``inner`` and keeps how each network of the command ended (by the
    status its run really got), so an interrupted command can say what it left behind: an
    interrupt that lands while a run is being closed leaves that run FINISHED, not KILLED."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.ended: dict[str, str] = {}          # network name -> FINISHED | FAILED | KILLED | STALE
        self.run_ids: dict[str, str] = {}        # network (or ensemble) name -> the run it started
        self.errors: dict[str, str] = {}         # network name -> why it failed

    def __enter__(self) -> "Tally":
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        return self.inner.__exit__(*exc)

    def study_started(self, study: str, n_networks: int, dataset: str, device: str) -> None:
        self.inner.study_started(study, n_networks, dataset, device)

    def network_started(self, name: str, run_id: str) -> None:
        self.run_ids[name] = run_id
        self.inner.network_started(name, run_id)

    def network_progress(self, fraction: float, metrics: dict[str, float]) -> None:
        self.inner.network_progress(fraction, metrics)

    def network_finished(self, name: str, status: str, metrics: dict[str, float],
                         error: str | None = None) -> None:
        self.ended[name] = status
        if error is not None:
            self.errors[name] = error
        self.inner.network_finished(name, status, metrics, error)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def with_status(self, status: str) -> list[str]:
        return [n for n, s in self.ended.items() if s == status]

