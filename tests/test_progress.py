"""Quiet progress inside notebook kernels (any executor), live bars in a terminal."""
import io
import logging
import sys
import types
import warnings

import pytest

from idinpaint import progress
from idinpaint.progress import QuietProgress, is_quiet, progress_bar, quiet_training


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture
def kernel(monkeypatch):
    """Pretend to run inside a Jupyter kernel (ipykernel loaded, stderr not a terminal)."""
    monkeypatch.delenv("IDINPAINT_QUIET", raising=False)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    stream = _Stream(tty=False)  # where the tests send their summaries (pytest owns sys.stderr)
    monkeypatch.setattr(sys, "stderr", stream)  # set again inside each test: capture resets it
    return stream


def test_quiet_is_detected_in_a_kernel_without_a_terminal_whatever_the_executor(kernel, monkeypatch):
    monkeypatch.setattr(sys, "stderr", kernel)
    for name in ("PAPERMILL_EXECUTION", "CI"):
        monkeypatch.delenv(name, raising=False)
    assert is_quiet()
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert not is_quiet(), "a kernel attached to a terminal keeps live bars"


def test_a_plain_python_process_draws_bars_and_the_variable_overrides(monkeypatch):
    monkeypatch.delenv("IDINPAINT_QUIET", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not is_quiet()
    monkeypatch.setenv("IDINPAINT_QUIET", "1")
    assert is_quiet()
    monkeypatch.setenv("IDINPAINT_QUIET", "0")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert not is_quiet()


def test_quiet_loop_prints_one_summary_line_only_when_long(kernel, monkeypatch):
    monkeypatch.setattr(sys, "stderr", kernel)
    assert list(progress_bar(range(5), desc="fast", unit="img")) == list(range(5))
    assert kernel.getvalue() == "", "a short loop prints nothing"

    with progress_bar(total=3, desc="embed[sface] clean", unit="img", min_seconds=0) as bar:
        for _ in range(3):
            bar.update(1)
        bar.set_postfix(chunk=1)
    lines = kernel.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embed[sface] clean: 3 img in ") and "\r" not in kernel.getvalue()

    kernel.truncate(0)
    kernel.seek(0)
    assert list(progress_bar(range(2), desc="loop", min_seconds=0)) == [0, 1]
    assert kernel.getvalue().count("\n") == 1 and kernel.getvalue().startswith("loop: 2 it in ")


def test_disabled_or_empty_quiet_loops_print_nothing(kernel, monkeypatch):
    monkeypatch.setattr(sys, "stderr", kernel)
    with progress_bar(total=4, desc="off", disable=True, min_seconds=0) as bar:
        bar.update(4)
    with progress_bar(total=0, desc="empty", min_seconds=0):
        pass
    assert kernel.getvalue() == ""


def test_terminal_gets_a_real_tqdm_bar(monkeypatch):
    from tqdm import tqdm

    monkeypatch.setenv("IDINPAINT_QUIET", "0")
    bar = progress_bar(range(3), desc="x", file=io.StringIO())
    assert isinstance(bar, tqdm) and list(bar) == [0, 1, 2]


def test_quiet_progress_keeps_tqdms_interface():
    bar = QuietProgress(["a", "b"], desc="d")
    assert len(bar) == 2 and list(bar) == ["a", "b"] and bar.n == 2
    bar.set_description("e")
    bar.set_postfix_str("p")
    bar.refresh()
    assert bar.summary().startswith("e: 2 it in ") and bar.summary().endswith("(p)")


def test_quiet_training_drops_lightning_info_and_known_repeated_warnings(kernel, monkeypatch):
    monkeypatch.setattr(sys, "stderr", kernel)
    lightning = logging.getLogger("pytorch_lightning")
    before = lightning.level
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_training():
            assert not lightning.isEnabledFor(logging.INFO)
            warnings.warn("Checkpoint directory /x/ca exists and is not empty.")
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning)
            warnings.warn("a real problem")
    assert [str(w.message) for w in seen] == ["a real problem"], "only the known noise is dropped"
    assert lightning.level == before


def test_quiet_training_changes_nothing_in_a_terminal(monkeypatch):
    monkeypatch.setenv("IDINPAINT_QUIET", "0")
    lightning = logging.getLogger("pytorch_lightning")
    before = lightning.level
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_training():
            assert lightning.level == before
            warnings.warn("Checkpoint directory /x/ca exists and is not empty.")
    assert len(seen) == 1
    assert progress.SUMMARY_SECONDS > 0


def test_an_interrupt_between_two_bars_says_how_far_the_last_one_got():
    from idinpaint import progress

    for _ in progress.progress_bar(range(5), desc="step one", total=5):
        pass
    progress._INTERRUPT.clear()
    line = progress.interrupt_line()
    assert "interrupted after 5 of 5 it (step one)" in line, line


def test_a_training_stage_writes_a_line_every_few_minutes_where_no_bar_can_be_drawn(monkeypatch):
    from tqdm import tqdm

    from idinpaint.progress import PeriodicProgress, stage_progress

    log = _Stream(tty=False)   # stderr sent to a file: `idinpaint train ... > run.log`
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.delenv("IDINPAINT_QUIET", raising=False)
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "time", lambda: clock[0])
    bar = stage_progress(1000, "batches", "stage ca_gan", initial=400, every_seconds=60)
    assert isinstance(bar, PeriodicProgress)
    for _ in range(3):          # 3 × 50 batches in 3 × 25 s: one line, after a minute
        clock[0] += 25
        bar.update(50)
    assert log.getvalue() == "stage ca_gan: 550 of 1,000 batches (2.00 batches/s; about 4 min left)\n"
    clock[0] += 30
    bar.update(50)
    assert log.getvalue().count("\n") == 1, "at most one line a minute"
    assert progress._progress_now() == (600, 1000, "batches", "stage ca_gan")  # what an interrupt says

    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert isinstance(stage_progress(10, desc="x", every_seconds=60), tqdm), "a terminal gets a live bar"
    monkeypatch.setenv("IDINPAINT_QUIET", "1")
    assert isinstance(stage_progress(10, desc="x"), PeriodicProgress)
