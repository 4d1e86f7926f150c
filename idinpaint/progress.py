"""Progress output that stays readable wherever the code runs.

In a terminal, long loops draw live tqdm bars. Inside a notebook kernel that has no terminal
(JupyterLab, plain papermill, nbclient, nbval, VS Code) every redraw of a bar becomes one more stored
output, so there the bars are off: a loop that took at least ``min_seconds`` writes **one** summary
line when it ends (``embed[sface] clean: 187 img in 16.3 s``), a quicker one writes nothing. The same
mode silences Lightning's tips and the warnings it repeats for every training stage
(:func:`quiet_training`).

The mode is detected, not configured: ``ipykernel`` is loaded and stderr is not a TTY. No executor has
to set a variable. ``IDINPAINT_QUIET=1`` forces it (e.g. a CI log), ``IDINPAINT_QUIET=0`` turns it off
(live bars in JupyterLab).

Use :func:`progress_bar` where the code would call ``tqdm(...)``; it takes the same arguments.

**Interrupts.** :func:`handle_interrupts` (installed by the CLI in the main process only) turns Ctrl-C
(SIGINT) and SIGTERM into one ``KeyboardInterrupt``; :func:`interrupt_line` then says how far the
innermost running bar got (``interrupted after 1,024 of 13,233 img (align); run the same command
again to resume``). A command made of many steps (the conditions of ``evaluate occluded``) also keeps
an :func:`overall_progress` count, and the line gives it first (``interrupted after 12 of 30
conditions, then 140 of 335 img (condition region:nose@black + telea); ...``). Worker processes call
:func:`ignore_interrupts` first: the main process stops them, so a Ctrl-C (sent by the terminal to
every process of the group) prints no worker traceback.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import warnings
import weakref
from typing import Iterable, Iterator

#: A quiet loop that ran at least this long writes its one summary line.
SUMMARY_SECONDS = 10.0

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

#: Loggers of Lightning's info lines (GPU/TPU available, tips, "`Trainer.fit` stopped", ...).
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")

#: Warnings a training stage repeats on every run that tell a notebook reader nothing.
QUIET_WARNING_MESSAGES = (
    r".*[Cc]heckpoint directory .* exists and is not empty.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*module\(s\) in eval mode.*",
    r".*does not have many workers which may be a bottleneck.*",
    r".*The number of training batches .* is smaller than the logging interval.*",
)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (not a notebook's stream, a pipe or a file)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel (``ipykernel`` loaded) whose stderr is not a terminal."""
    return "ipykernel" in sys.modules and not stderr_is_terminal()


def has_live_frontend() -> bool:
    """Whether this kernel was started by a Jupyter server (JupyterLab, Notebook 7; it sets
    ``JPY_SESSION_NAME``), so widgets are drawn for a person. papermill and nbclient start kernels
    themselves: there a widget would be saved as its text (``VBox(children=...)``), so notebooks show
    their static fallback instead. Other frontends (VS Code) pass ``interactive=True`` to a notebook."""
    return "ipykernel" in sys.modules and bool(os.environ.get("JPY_SESSION_NAME"))


def is_quiet() -> bool:
    """Whether progress should be one summary line per long loop instead of live bars:
    ``IDINPAINT_QUIET`` when set (1/0), else :func:`in_notebook_kernel`."""
    value = os.environ.get("IDINPAINT_QUIET", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return in_notebook_kernel()


class QuietProgress:
    """tqdm's everyday interface (iterate, ``update``, ``set_description``, ``set_postfix``, ``close``,
    ``with``) that draws nothing; at the end, if the loop took at least ``min_seconds`` and did some
    work, it writes one line ``<desc>: <n> <unit> in <seconds> s`` to ``file`` (stderr)."""

    def __init__(self, iterable: Iterable | None = None, desc: str | None = None, total=None, unit: str = "it",
                 disable: bool = False, file=None, min_seconds: float = SUMMARY_SECONDS, initial: int = 0,
                 **_ignored):
        self.iterable = iterable
        self.desc = desc or ""
        self.total = total if total is not None else _length(iterable)
        self.unit = unit
        self.disable = disable
        self.file = file
        self.min_seconds = min_seconds
        self.n = initial
        self.postfix = ""
        self.start_t = time.time()
        self._closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable if self.iterable is not None else ():
                yield item
                self.n += 1
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> "QuietProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    set_description_str = set_description

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def refresh(self, *args, **kwargs) -> None:
        pass

    def clear(self, *args, **kwargs) -> None:
        pass

    @staticmethod
    def write(text: str, file=None, end: str = "\n", nolock: bool = False) -> None:
        (file or sys.stdout).write(f"{text}{end}")

    @property
    def elapsed(self) -> float:
        return time.time() - self.start_t

    def summary(self) -> str:
        line = f"{self.desc}: {self.n}" if self.desc else f"{self.n}"
        line += f" {self.unit} in {self.elapsed:.1f} s"
        return f"{line} ({self.postfix})" if self.postfix else line

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.disable or self.n == 0 or self.elapsed < self.min_seconds or interrupted():
            return
        stream = self.file or sys.stderr
        stream.write(self.summary() + "\n")
        stream.flush()


def _length(iterable) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


def progress_bar(iterable: Iterable | None = None, *, desc: str | None = None, total=None, unit: str = "it",
                 disable: bool = False, min_seconds: float = SUMMARY_SECONDS, **kwargs):
    """``tqdm(iterable, desc=..., total=..., unit=..., disable=..., **kwargs)`` in a terminal;
    :class:`QuietProgress` (no bar, one summary line for a long loop) when :func:`is_quiet`."""
    if is_quiet():
        bar = QuietProgress(iterable, desc=desc, total=total, unit=unit, disable=disable,
                            min_seconds=min_seconds, **kwargs)
    else:
        kwargs.setdefault("mininterval", 0.5)
        bar = _tqdm_class()(iterable, desc=desc, total=total, unit=unit, disable=disable, **kwargs)
    _BARS.append(weakref.ref(bar))
    del _BARS[:-32]  # only the latest bars can still be running
    _LAST[:] = [bar]  # kept alive: between two bars, an interrupt reports the last one
    return bar


_TQDM = []


def _tqdm_class():
    """tqdm whose count is exact while it iterates (tqdm's own iterator syncs ``n`` only when it
    redraws), so an interrupt can say how many items were done."""
    if not _TQDM:
        from tqdm import tqdm

        class ExactTqdm(tqdm):
            def __iter__(self):
                if self.disable:
                    yield from self.iterable
                    return
                try:
                    for item in self.iterable:
                        yield item
                        self.update(1)
                finally:
                    self.close()

        _TQDM.append(ExactTqdm)
    return _TQDM[0]


#: Where no bar can be drawn (a notebook kernel, a log file), a long training stage writes a line this often.
TRAINING_LINE_SECONDS = 120.0


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{max(1, minutes)} min"


class PeriodicProgress(QuietProgress):
    """:class:`QuietProgress` that also writes one line at most every ``every_seconds`` while it runs:
    ``<desc>: <n> of <total> <unit> (<rate>/s; about <time> left)``; the rate counts only the work
    done since it started (``initial``, e.g. a resumed training stage's batches, is not in it)."""

    def __init__(self, *args, every_seconds: float = TRAINING_LINE_SECONDS, **kwargs):
        super().__init__(*args, **kwargs)
        self.every_seconds = float(every_seconds)
        self._initial, self._last_line = self.n, self.start_t

    def line(self) -> str:
        done = self.n - self._initial
        rate = done / max(self.elapsed, 1e-9)
        text = f"{self.desc}: {self.n:,}" + (f" of {self.total:,}" if self.total else "") + f" {self.unit}"
        text += f" ({rate:.2f} {self.unit}/s"
        if self.total and rate > 0 and self.n < self.total:
            text += f"; about {_duration((self.total - self.n) / rate)} left"
        return text + ")"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.time()
        if n and not self.disable and now - self._last_line >= self.every_seconds:
            self._last_line = now
            stream = self.file or sys.stderr
            stream.write(self.line() + "\n")
            stream.flush()


def stage_progress(total: int | None, unit: str = "batches", desc: str | None = None, initial: int = 0,
                   every_seconds: float = TRAINING_LINE_SECONDS):
    """How a training stage shows its progress: a live bar in a terminal; where none can be drawn (a
    notebook kernel, ``IDINPAINT_QUIET=1``, stderr sent to a file) a line at most every
    ``every_seconds`` (:class:`PeriodicProgress`). Either way an interrupt says how far it got. Call
    ``update(k)`` for ``k`` more done, ``close()`` at the end."""
    if stderr_is_terminal() and not is_quiet():
        return progress_bar(total=total, unit=unit, desc=desc, initial=initial, min_seconds=0)
    bar = PeriodicProgress(total=total, unit=unit, desc=desc, initial=initial, every_seconds=every_seconds,
                           min_seconds=float("inf"))   # no summary line: the stage reports its own end
    _BARS.append(weakref.ref(bar))
    _LAST[:] = [bar]
    return bar


# --- interrupts ------------------------------------------------------------------------------------

#: The bars made by :func:`progress_bar`, latest last (weak: a finished bar goes away by itself).
_BARS: list = []
#: The latest bar made, held strongly (a weak reference to a finished bar may be gone already).
_LAST: list = []
#: The overall counts of the commands running now (:func:`overall_progress`), outermost first.
_OVERALL: list = []
#: Set to the signal's name once an interrupt arrived.
_INTERRUPT: dict = {}
EXIT_STATUS = {"SIGINT": 130, "SIGTERM": 143}


def _running(bar) -> bool:
    if isinstance(bar, QuietProgress):
        return not bar._closed and not bar.disable
    return not getattr(bar, "disable", True)  # tqdm sets disable when it closes


def _on_signal(signum, frame) -> None:
    name = signal.Signals(signum).name
    if _INTERRUPT:
        return  # a second Ctrl-C while stopping: already on the way out
    _INTERRUPT["signal"] = name
    _INTERRUPT["progress"] = _progress_now()
    _INTERRUPT["running"] = _progress_now(running_only=True)
    _INTERRUPT["overall"] = _overall_now()
    for logger in LIGHTNING_LOGGERS:  # Lightning's own "Detected KeyboardInterrupt" line
        logging.getLogger(logger).setLevel(logging.ERROR)
    raise KeyboardInterrupt(name)


def _progress_now(running_only: bool = False) -> tuple | None:
    """(n, total, unit, desc) of the innermost running bar with a total (its bar line is cleared);
    between two bars, the last one that finished (unless ``running_only``): how far the command had
    got either way."""
    found, finished = None, None
    for bar in [ref() for ref in reversed(_BARS)] + _LAST:
        if bar is None or not getattr(bar, "total", None):
            continue
        state = (int(bar.n), int(bar.total), getattr(bar, "unit", "it"), getattr(bar, "desc", "") or "")
        if not _running(bar):
            finished = finished or state
            continue
        found = found or state
        if not isinstance(bar, QuietProgress):
            bar.leave = False  # tqdm clears its line when it closes
    return found if running_only else found or finished


class OverallProgress:
    """The outer count of a command made of many steps: ``n`` of ``total`` ``unit`` done. It draws
    nothing (each step has its own bar); an interrupt reports it (:func:`interrupt_line`)."""

    def __init__(self, total: int, unit: str = "steps", desc: str = ""):
        self.n, self.total, self.unit, self.desc = 0, int(total), unit, desc

    def update(self, n: int = 1) -> None:
        self.n += n


@contextlib.contextmanager
def overall_progress(total: int, unit: str = "steps", desc: str = ""):
    """Around a command's loop over its steps: yields an :class:`OverallProgress` to ``update(1)`` as
    each step finishes; an interrupt meanwhile says ``interrupted after <n> of <total> <unit>``, then
    how far the running step's bar got."""
    counter = OverallProgress(total, unit, desc)
    _OVERALL.append(counter)
    try:
        yield counter
    finally:
        _OVERALL.remove(counter)


def _overall_now() -> tuple | None:
    """(n, total, unit, desc) of the outermost overall count running now, or None."""
    if not _OVERALL:
        return None
    counter = _OVERALL[0]
    return counter.n, counter.total, counter.unit, counter.desc


@contextlib.contextmanager
def handle_interrupts():
    """In the main process, around a command: SIGINT and SIGTERM raise one ``KeyboardInterrupt`` (a
    second signal while stopping is ignored); see :func:`interrupt_line`. The previous handlers come
    back afterwards."""
    _INTERRUPT.clear()
    names = ("SIGINT", "SIGTERM")
    previous = {name: signal.getsignal(getattr(signal, name)) for name in names}
    for name in names:
        signal.signal(getattr(signal, name), _on_signal)
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler if handler is not None else signal.SIG_DFL)


def ignore_interrupts() -> None:
    """In a worker process: Ctrl-C goes to the whole process group, but only the main process acts
    on it (it stops the workers); SIGTERM keeps its default, so stopping a worker is quiet."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupted() -> str | None:
    """The signal's name (``SIGINT`` / ``SIGTERM``) once an interrupt arrived, else None."""
    return _INTERRUPT.get("signal")


def interrupt_line() -> str:
    """The one line an interrupted command prints: how far the overall count got, if the command
    keeps one, then the running bar (``interrupted after 12 of 30 conditions, then 140 of 335 img
    (condition region:nose@black + telea); ...``); else how far the innermost bar got."""
    signalled = "signal" in _INTERRUPT
    overall = _INTERRUPT.get("overall") if signalled else _overall_now()
    if overall:
        step = _INTERRUPT.get("running") if signalled else _progress_now(running_only=True)
    else:
        step = _INTERRUPT.get("progress") or _progress_now()
    where = ""
    for count in (overall, step):
        if count:
            n, total, unit, desc = count
            where += (", then " if where else " after ") + f"{n:,} of {total:,} {unit}" + (f" ({desc})" if desc else "")
    return f"interrupted{where}; run the same command again to resume"


def interrupt_status() -> int:
    """The exit status of an interrupted command: 128 + the signal number (130 for Ctrl-C)."""
    return EXIT_STATUS.get(interrupted() or "SIGINT", 130)


@contextlib.contextmanager
def quiet_training(quiet: bool | None = None):
    """Around building a Lightning ``Trainer`` and ``fit``: when quiet (default :func:`is_quiet`),
    Lightning's info lines (GPU/TPU available, tips, "`Trainer.fit` stopped ...") are dropped and the
    warnings of :data:`QUIET_WARNING_MESSAGES` ignored; real warnings (and errors) still show.
    Outside the quiet mode it changes nothing."""
    if not (is_quiet() if quiet is None else quiet):
        yield
        return
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in QUIET_WARNING_MESSAGES:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
