"""The run folder: what a training run writes, and the one place it is read back.

Every training run (``idinpaint train``, ``idinpaint detector train``; one Lightning stack for the CA,
the Fusor and the O-Detector) writes one folder::

    provenance.json   config, package versions, git SHA, machine (:func:`idinpaint.runinfo.provenance`)
    config.json       the resolved recipe (a later run into the same folder must keep its networks)
    run.json          the run summary: recipe, half, status, one record per stage, the final files
    <stage>/stage.json   the stage's record: status (running / done / failed), batches, seconds, scores
    <stage>/last.ckpt    its latest training state; <stage>/best.ckpt the best by the stage's monitor
    <stage>/<export>     its inference file: ``inpainter.pt`` (a ``ca`` or ``fusor`` stage) or
                         ``odetector.pt`` (a ``detector`` stage), see :data:`EXPORT_NAMES`
    <stage>/snapshots/step_NNNNNN.pt   with ``trainer.snapshot_every``: the evaluated generator every
                         N batches, as an inference file (:func:`snapshot_file`, :func:`snapshot_files`)
    tb/<stage>/          the TensorBoard events of each stage (:func:`logged_scalars`)

Paths inside ``run.json`` are where the run was written; readers resolve stage files against the
folder they are given (:func:`stage_file`), so a run folder can be moved.
"""
from __future__ import annotations

import json
from pathlib import Path

from idinpaint.runinfo import provenance, write_json

RUN_FILE, CONFIG_FILE, PROVENANCE_FILE, STAGE_FILE = "run.json", "config.json", "provenance.json", "stage.json"
#: The inference file a finished stage exports, by the model the stage trains.
EXPORT_NAMES = {"ca": "inpainter.pt", "fusor": "inpainter.pt", "detector": "odetector.pt"}
#: Config sections that fix the networks: a run folder refuses a second run that changes them.
NETWORK_SECTIONS = ("ca", "fusor", "discriminator", "sampler", "detector")


class RunFolderError(FileNotFoundError):
    """A folder that is not (or not yet) the run asked for; the message names it and what is missing."""


def start_run(run_dir, config: dict) -> Path:
    """Create (or reopen) a run folder for ``config``; refuse one whose networks differ."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = run_dir / CONFIG_FILE
    if previous.is_file():
        old = json.loads(previous.read_text())
        # a section the earlier run did not have is a newer default (e.g. ``detector`` for an inpainter run)
        changed = [k for k in NETWORK_SECTIONS if k in old and old.get(k) != config.get(k)]
        if changed:
            raise ValueError(f"{run_dir} holds a run whose model settings differ ({', '.join(changed)}); "
                             "use another --output or delete it")
    write_json(previous, config)
    write_json(run_dir / PROVENANCE_FILE, provenance(config))
    return run_dir


SNAPSHOTS = "snapshots"


def snapshot_file(stage_folder, batches: int) -> Path:
    """Where a stage's snapshot after ``batches`` training batches is written: ``<stage>/snapshots/step_NNNNNN.pt``."""
    return Path(stage_folder) / SNAPSHOTS / f"step_{int(batches):06d}.pt"


def snapshot_files(run_dir, stage: str) -> list[tuple[int, Path]]:
    """(batches, path) of every snapshot of ``stage`` in ``run_dir``, in training order."""
    found = []
    for path in sorted((Path(run_dir) / stage / SNAPSHOTS).glob("step_*.pt")):
        try:
            found.append((int(path.stem.split("_", 1)[1]), path))
        except ValueError:
            continue
    return found


def stage_dir(run_dir, stage: str) -> Path:
    return Path(run_dir) / stage


def read_stage(stage_folder) -> dict:
    """A stage's record (``stage.json``), or {} when the stage never started."""
    path = Path(stage_folder) / STAGE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def write_stage(stage_folder, record: dict) -> Path:
    return write_json(Path(stage_folder) / STAGE_FILE, record)


def write_run(run_dir, summary: dict) -> Path:
    return write_json(Path(run_dir) / RUN_FILE, summary)


def read_run(run_dir) -> dict:
    """``run.json`` of a run folder; :class:`RunFolderError` when there is none."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise RunFolderError(f"{path}: no training run here (run `idinpaint train` first)")
    return json.loads(path.read_text())


def read_run_files(run_dir) -> dict:
    """{"run", "provenance", "config"}: the three JSON files of a finished run folder."""
    run_dir = Path(run_dir)
    sources = {"run": run_dir / RUN_FILE, "provenance": run_dir / PROVENANCE_FILE, "config": run_dir / CONFIG_FILE}
    missing = [f.name for f in sources.values() if not f.is_file()]
    if missing:
        raise RunFolderError(f"{run_dir}: not a training run folder (missing {', '.join(missing)})")
    return {name: json.loads(f.read_text()) for name, f in sources.items()}


def read_config(run_dir) -> dict:
    """``config.json`` of a run folder (the resolved recipe it was trained with)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunFolderError(f"{run_dir}: not a training run folder (no {CONFIG_FILE})")
    return json.loads(path.read_text())


def export_name(model: str) -> str:
    return EXPORT_NAMES[model]


def stage_file(run_dir, record: dict) -> Path:
    """The inference file a finished stage record exported, inside ``run_dir``."""
    return stage_dir(run_dir, record["stage"]) / export_name(record.get("model", "ca"))


def finished_stages(run_dir) -> list[dict]:
    """The records of ``run_dir``'s finished stages whose inference file is there, in training order."""
    return [s for s in read_run(run_dir).get("stages", [])
            if s.get("status") == "done" and stage_file(run_dir, s).is_file()]


def logged_scalars(run_dir, tags=("train/", "val/")) -> tuple[dict[str, list[tuple[float, float]]], list[tuple[int, str]]]:
    """Every scalar a staged run logged (TensorBoard events under ``<run_dir>/tb/<stage>``) whose tag
    starts with one of ``tags``: ({tag: [(batch, value)]}, [(batch where a stage ends, stage)]), the
    stages one after another on a common batch axis, in the order they were written."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # heavy: on use only

    stages = [d for d in sorted(Path(run_dir, "tb").iterdir(), key=lambda d: d.stat().st_mtime) if d.is_dir()]
    series: dict[str, list[tuple[float, float]]] = {}
    boundaries, offset = [], 0
    for stage in stages:
        events = EventAccumulator(str(stage)).Reload()
        last = 0
        for tag in events.Tags().get("scalars", []):
            if not tag.startswith(tuple(tags)):
                continue
            for event in events.Scalars(tag):
                series.setdefault(tag, []).append((offset + event.step, event.value))
                last = max(last, event.step)
        offset += last + 1
        boundaries.append((offset, stage.name))
    return series, boundaries
