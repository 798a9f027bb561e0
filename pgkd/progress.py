"""What a person watching pgkd sees: live progress bars on a terminal, plain lines elsewhere.

Three modes, picked by :meth:`Progress.auto`:

- *live* (stderr is a terminal, ``CI`` unset, ``TERM`` not ``dumb``): rich bars with counts,
  rate, elapsed time, ETA and, for the teacher, calls in flight, retries and cost so far; a
  finished bar turns into one summary line.
- *plain* (pipes, CI logs): nothing redraws. One line when a piece of work finishes, and a
  status line at most every ``plain_interval`` seconds while a long one runs.
- *quiet*: nothing at all.

``PGKD_PROGRESS=live|plain|quiet`` overrides the choice. Callbacks may be called from worker
threads (training runs off the event loop), so every state change holds a lock.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from pgkd.types import Evaluation

if TYPE_CHECKING:
    from pgkd.config import Config
    from pgkd.data import Splits

#: Seconds between status lines of a running task in plain mode.
PLAIN_INTERVAL = 30.0
MODE_ENV = "PGKD_PROGRESS"


@dataclass
class _Task:
    description: str
    unit: str
    started: float
    total: int | None = None
    done: int = 0
    extra: str = ""
    last_line: float = 0.0
    bar: Any = None

    def summary(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        rate = f", {self.done / elapsed:,.1f} {self.unit}/s" if self.done and elapsed > 0.05 else ""
        extra = f", {self.extra}" if self.extra else ""
        return f"  {self.description}: {count} {self.unit} in {elapsed:.1f}s{rate}{extra}"


class Progress:
    """Reports stages, training, batch fills, finished steps and any counted task."""

    def __init__(
        self,
        *,
        live: bool,
        quiet: bool = False,
        stream: TextIO | None = None,
        plain_interval: float = PLAIN_INTERVAL,
    ) -> None:
        self.live = live and not quiet
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.plain_interval = plain_interval
        self._lock = threading.RLock()
        self._tasks: dict[str, _Task] = {}
        self._console: Any = None
        self._bars: Any = None
        if self.live:
            from rich.console import Console

            self._console = Console(file=self.stream)

    @classmethod
    def auto(cls, *, quiet: bool = False) -> Progress:
        mode = os.environ.get(MODE_ENV, "").strip().lower()
        if quiet or mode == "quiet":
            return cls(live=False, quiet=True)
        if mode in ("live", "plain"):
            return cls(live=mode == "live")
        terminal = sys.stderr.isatty() and not os.environ.get("CI")
        return cls(live=terminal and os.environ.get("TERM") != "dumb")

    # -- plain messages -------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            if self._console is not None:
                self._console.print(text, highlight=False, markup=False)
            else:
                print(text, file=self.stream, flush=True)

    def stage(self, text: str) -> None:
        self.finish_all()
        self._say(f"pgkd: {text}")

    def begin(self, config: Config, splits: Splits) -> None:
        """The line that opens a run: its data, teacher, student and steps."""
        self.finish_all()
        self._say(
            f"pgkd: {len(splits.train)} train / {len(splits.validation)} validation / "
            f"{len(splits.test)} test samples, {len(splits.labels)} classes; teacher "
            f"{config.teacher.model}, student {config.student.kind}, up to {config.kd.steps} steps"
        )

    def step_done(
        self, step: int, val: Evaluation, test: Evaluation | None, extra: Mapping[str, Any]
    ) -> None:
        self.finish_all()
        name = "model_0" if step == 0 else f"step {step}"
        scores = (
            f"val acc {val.metrics.get('accuracy', 0):.3f} macro-F1 "
            f"{val.metrics.get('macro_f1', 0):.3f} loss {val.loss:.3f}"
        )
        if test is not None:
            scores += f", test acc {test.metrics.get('accuracy', 0):.3f}"
        added = "" if step == 0 else f", +{extra.get('accepted', 0)} samples"
        cost = (extra.get("generation") or {}).get("cost_usd")
        spent = f", teacher ${cost:.4f}" if isinstance(cost, int | float) and cost else ""
        best = " (best)" if extra.get("is_best") else ""
        self._say(f"pgkd: {name}: {scores}{added}{spent}{best}")

    # -- counted tasks --------------------------------------------------------------------

    def update(
        self,
        key: str,
        description: str,
        done: int,
        total: int | None,
        unit: str,
        extra: str = "",
        started: float | None = None,
    ) -> None:
        """Move the task ``key`` to ``done`` of ``total``; it finishes when done >= total.
        ``started`` is when the work began (default: now, at the first update)."""
        if self.quiet:
            return
        with self._lock:
            now = time.perf_counter()
            task = self._tasks.get(key)
            if task is None:
                begun = now if started is None else started
                task = self._tasks[key] = _Task(description, unit, begun, last_line=now)
            task.description, task.done, task.total, task.extra = description, done, total, extra
            if total is not None and done >= total:
                self._finish(key)
            elif self.live:
                self._draw(task)
            elif now - task.last_line >= self.plain_interval:
                task.last_line = now
                print(task.summary(now), file=self.stream, flush=True)

    def task(self, description: str, unit: str = "rows") -> Callable[[int, int | None], None]:
        """A callback ``(done, total)`` for one piece of work (e.g. ``pgkd predict``); call
        :meth:`finish_all` when it ends early or has no known total."""
        key = f"{description}#{id(object())}"
        started = time.perf_counter()

        def report(done: int, total: int | None) -> None:
            self.update(key, description, done, total, unit, started=started)

        return report

    def fit_callback(self) -> Callable[[int, int, str], None] | None:
        """For ``Student.fit``: ``(done, total, what)``, e.g. batches of ``"epoch 3"``."""
        if self.quiet:
            return None
        self.finish_all()
        started = time.perf_counter()

        def report(done: int, total: int, what: str) -> None:
            unit = "texts" if "embed" in what else "batches"
            self.update("fit", f"training: {what}", done, total, unit, started=started)

        return report

    def fill_callback(self) -> Callable[..., None] | None:
        """For the teacher pool (one callback for the whole run, one task per fill): accepted of
        requested samples, calls in flight, retries and cost so far."""
        if self.quiet:
            return None
        self.finish_all()

        def report(
            accepted: int,
            requested: int,
            in_flight: int = 0,
            retries: int = 0,
            cost: float = 0.0,
            **_: Any,
        ) -> None:
            extra = f"{in_flight} calls in flight, {retries} retries, ${cost:.4f}"
            self.update("fill", "teacher", accepted, requested, "samples", extra)

        return report

    def batch_callback(self) -> Callable[[int, int, str], None] | None:
        """For fills through a batch API: samples in hand of requested, and the state of the
        job they wait on (``"batch job ID: in_progress, 3/8 requests done"``), which a plain
        log shows whenever it changes."""
        if self.quiet:
            return None
        self.finish_all()
        shown = [""]

        def report(accepted: int, requested: int, state: str) -> None:
            self.update("fill", "teacher (batch)", accepted, requested, "samples", state)
            if not self.live and state != shown[0] and accepted < requested:
                shown[0] = state
                self._say(f"  teacher: {state}")

        return report

    def finish_all(self) -> None:
        """End every open task (work that stopped short of its total, like early stopping)."""
        with self._lock:
            for key in list(self._tasks):
                self._finish(key)

    def close(self) -> None:
        self.finish_all()

    # -- drawing --------------------------------------------------------------------------

    def _finish(self, key: str) -> None:
        task = self._tasks.pop(key)
        if task.bar is not None:
            self._bars.remove_task(task.bar)
        if not self._tasks and self._bars is not None:
            self._bars.stop()
            self._bars = None
        line = task.summary(time.perf_counter())
        if self._console is not None:
            self._console.print(line, highlight=False, markup=False)
        else:
            print(line, file=self.stream, flush=True)

    def _draw(self, task: _Task) -> None:
        if self._bars is None:
            self._bars = _rich_bars(self._console)
            self._bars.start()
        fields = {"extra": task.extra, "unit": task.unit}
        if task.bar is None:
            task.bar = self._bars.add_task(task.description, total=task.total, **fields)
        self._bars.update(
            task.bar, description=task.description, completed=task.done, total=task.total, **fields
        )


def _rich_bars(console: Any) -> Any:
    from rich import progress as bars

    return bars.Progress(
        bars.TextColumn("  {task.description}"),
        bars.BarColumn(bar_width=20),
        bars.MofNCompleteColumn(),
        bars.TextColumn("{task.fields[unit]}"),
        _rate_column(),
        bars.TimeElapsedColumn(),
        bars.TextColumn("eta"),
        bars.TimeRemainingColumn(),
        bars.TextColumn("{task.fields[extra]}"),
        console=console,
        transient=True,
        refresh_per_second=5,
    )


def _rate_column() -> Any:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.1f}/s")

    return RateColumn()
