"""What a person watching a run sees: progress bars on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from pgkd.types import Evaluation


class Progress:
    """Reports stages, training epochs, batch fills and finished steps.

    On a terminal it draws live lines with rich; otherwise (CI logs, pipes) it prints one plain
    line per event and nothing that redraws. ``quiet`` prints nothing at all.
    """

    def __init__(self, *, live: bool, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.live = live and not quiet
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self._console: Any = None
        self._last_fill = 0.0
        if self.live:
            from rich.console import Console

            self._console = Console(file=self.stream)

    @classmethod
    def auto(cls, *, quiet: bool = False) -> Progress:
        return cls(live=sys.stderr.isatty(), quiet=quiet)

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        if self._console is not None:
            self._console.print(text, highlight=False, markup=False)
        else:
            print(text, file=self.stream, flush=True)

    def stage(self, text: str) -> None:
        self._say(f"pgkd: {text}")

    def begin(self, config: Any, splits: Any) -> None:
        self._say(
            f"pgkd: {len(splits.train)} train / {len(splits.validation)} validation / "
            f"{len(splits.test)} test samples, {len(splits.labels)} classes; teacher "
            f"{config.teacher.model}, student {config.student.kind}, up to {config.kd.steps} steps"
        )

    def fit_callback(self) -> Callable[[int, int, str], None] | None:
        if self.quiet:
            return None
        started = time.perf_counter()

        def report(done: int, total: int, what: str) -> None:
            if done == total or self.live:
                elapsed = time.perf_counter() - started
                self._transient(f"  {what}: {done}/{total} ({elapsed:.1f}s)", final=done == total)

        return report

    def fill_callback(self) -> Callable[..., None] | None:
        if self.quiet:
            return None

        def report(
            accepted: int, requested: int, in_flight: int = 0, retries: int = 0, cost: float = 0.0
        ) -> None:
            now = time.perf_counter()
            final = accepted >= requested
            if not final and now - self._last_fill < (0.2 if self.live else 5.0):
                return
            self._last_fill = now
            self._transient(
                f"  teacher: {accepted}/{requested} samples, {in_flight} calls in flight, "
                f"{retries} retries, ${cost:.4f}",
                final=final,
            )

        return report

    def _transient(self, text: str, *, final: bool) -> None:
        if self._console is not None and not final:
            self.stream.write("\r" + text[: self._console.width - 1].ljust(self._console.width - 1))
            self.stream.flush()
            return
        if self._console is not None:
            self.stream.write("\r")
        self._say(text)

    def step_done(
        self, step: int, val: Evaluation, test: Evaluation | None, extra: Mapping[str, Any]
    ) -> None:
        name = "model_0" if step == 0 else f"step {step}"
        scores = f"val acc {val.metrics.get('accuracy', 0):.3f} loss {val.loss:.3f}"
        if test is not None:
            scores += f", test acc {test.metrics.get('accuracy', 0):.3f}"
        added = "" if step == 0 else f", +{extra.get('accepted', 0)} samples"
        best = " (best)" if extra.get("is_best") else ""
        self._say(f"pgkd: {name}: {scores}{added}{best}")
