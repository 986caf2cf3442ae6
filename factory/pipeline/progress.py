"""Progress for long stages: a rich bar on a terminal (rows done/total, generated tokens/s, ETA),
plain log lines (every `every_s` seconds and at the end) when stderr is not a terminal, so CI logs
and `nohup` files stay readable.

Exercise: `factory generate ...` (watch stderr).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class RowProgress:
    def __init__(self, *, total: int, done: int = 0, label: str = "generate", log: Callable[[str], None] | None = None,
                 rich: bool | None = None, every_s: float = 10.0) -> None:
        self.total = total
        self.done = done
        self.start_done = done
        self.tokens = 0
        self.label = label
        self.log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        self.every_s = every_s
        self.t0 = time.time()
        self._last = self.t0
        self.rich = sys.stderr.isatty() if rich is None else rich
        self._bar = None
        self._task = None

    def __enter__(self) -> RowProgress:
        if self.rich:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[tps]} tok/s"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.done, tps="0")
        return self

    def tokens_per_s(self) -> float:
        dt = max(time.time() - self.t0, 1e-9)
        return self.tokens / dt

    def advance(self, rows: int = 1, tokens: int = 0) -> None:
        self.done += rows
        self.tokens += tokens
        now = time.time()
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, tps=f"{self.tokens_per_s():,.0f}")
        elif now - self._last >= self.every_s:
            self._last = now
            self._line()

    def _line(self) -> None:
        rate = (self.done - self.start_done) / max(time.time() - self.t0, 1e-9)
        left = self.total - self.done
        eta = f"{left / rate:,.0f}s" if rate > 0 else "?"
        self.log(f"{self.label}: {self.done}/{self.total} rows, {self.tokens_per_s():,.0f} generated tok/s, ETA {eta}")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
        else:
            self._line()
