"""Result rows of the occluded-LFW protocol: one typed :class:`Row` per (recognizer, occlusion,
filler) condition, written atomically as CSV (tidy), JSON (provenance, rows, failures) and an
``.npz`` of every condition's pair scores, read back, combined and renamed."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from idinpaint.evaluation.realism import C2ST_FIELDS, REALISM_FIELDS
from idinpaint.imageio import atomic_write_bytes
from idinpaint.occlusion import CLEAN, parse_spec, region_label
from idinpaint.paths import results_dir
from idinpaint.runinfo import provenance, write_json, write_text

DEFAULT_STEM = "lfw_occluded"
NAN = math.nan


@dataclass
class Row(MutableMapping):
    """One condition's numbers. Reads as a mapping too (``row["accuracy"]``, ``{**row}``), keyed by
    the CSV column names in :data:`ROW_FIELDS` (``tar_far_1e-3`` is the field ``tar_far_1e_3``), so
    table code and notebooks can address a column by name; unknown columns are an error.

    ``accuracy`` … ``pairs``: :func:`~idinpaint.evaluation.verification.verify` on the condition's
    pair scores; ``acc_clean``, ``acc_occluded`` (same occlusion, filler ``none``) and
    ``recovery_ratio`` = (acc_filled − acc_occluded) / (acc_clean − acc_occluded); the realism of
    the fill against the clean crop (:mod:`.realism`, the same for every recognizer), and the
    learned judge's verdict on the condition (``c2st_*``, :func:`.realism.c2st`: AUC, its 95 %
    interval, each judge's AUC, crops judged; NaN for the clean row and where too few crops); ``protocol``
    (``10-fold`` or ``subfolds``), ``embedded`` (crops computed in this run, not cached),
    ``seconds``; ``error``: why the condition failed (the run goes on)."""

    recognizer: str = ""
    occlusion: str = ""
    region: str = ""
    fill: str = ""
    filler: str = ""
    accuracy: float = NAN
    accuracy_std: float = NAN
    auc: float = NAN
    tar_far_1e_3: float = NAN
    tar_far_1e_4: float = NAN
    similarity_gap: float = NAN
    similarity_gap_std: float = NAN
    same_mean: float = NAN
    different_mean: float = NAN
    pairs: int = 0
    acc_clean: float = NAN
    acc_occluded: float = NAN
    recovery_ratio: float = NAN
    chroma_spread: float = NAN
    chroma_error: float = NAN
    hole_l1: float = NAN
    hole_psnr: float = NAN
    ssim: float = NAN
    periodicity: float = NAN
    c2st_auc: float = NAN
    c2st_low: float = NAN
    c2st_high: float = NAN
    c2st_cnn: float = NAN
    c2st_features: float = NAN
    c2st_n: float = NAN
    protocol: str = ""
    embedded: int = 0
    seconds: float = 0.0
    condition: str = ""
    error: str = ""

    @classmethod
    def empty(cls, recognizer: str, occlusion: str, filler: str) -> "Row":
        """A row for a condition before it is scored."""
        return cls(recognizer=recognizer, occlusion=occlusion, region=region_label(occlusion),
                   fill="" if occlusion == CLEAN else parse_spec(occlusion).fill, filler=filler,
                   condition=condition_key(recognizer, occlusion, filler))

    @classmethod
    def from_mapping(cls, values) -> "Row":
        """A row from a JSON/CSV record: None becomes NaN, the old spelling ``recogniser`` is read,
        columns this version does not know are dropped."""
        values = dict(values)
        if "recogniser" in values:  # the spelling of runs written before this version
            values.setdefault("recognizer", values.pop("recogniser"))
        row = cls()
        for key, value in values.items():
            attr = _ATTR.get(key)
            if attr is None:
                continue
            default = getattr(row, attr)
            if value is None:
                value = NAN if isinstance(default, float) else default
            setattr(row, attr, value)
        return row

    # --- the mapping view ---------------------------------------------------------------------
    def __getitem__(self, key: str):
        try:
            return getattr(self, _ATTR[key])
        except KeyError:
            raise KeyError(f"no column {key!r} in a result row") from None

    def __setitem__(self, key: str, value) -> None:
        if key not in _ATTR:
            raise KeyError(f"no column {key!r} in a result row")
        setattr(self, _ATTR[key], value)

    def __delitem__(self, key: str) -> None:
        raise TypeError("result rows have fixed columns")

    def __iter__(self):
        return iter(ROW_FIELDS)

    def __len__(self) -> int:
        return len(ROW_FIELDS)


#: The CSV / JSON column names, in order (``tar_far_1e-3`` is spelled as in the verification results).
ROW_FIELDS = [f.name.replace("_1e_", "_1e-") for f in dataclasses.fields(Row)]
_ATTR = {column: f.name for column, f in zip(ROW_FIELDS, dataclasses.fields(Row))}
assert tuple(ROW_FIELDS[18:24]) == REALISM_FIELDS, "Row's realism fields must follow realism.REALISM_FIELDS"
assert tuple(ROW_FIELDS[24:30]) == C2ST_FIELDS, "Row's C2ST fields must follow realism.C2ST_FIELDS"


class OccludedResults(list):
    """The :class:`Row` s of a run (a plain list) plus what figures need: ``scores`` (condition -> pair
    cosine scores, in pair order), ``labels`` (same-person bool), ``folds`` (0..9), ``first`` /
    ``second`` (crop paths) and ``paths`` (files written)."""

    def __init__(self, rows=(), scores=None, labels=None, folds=None, first=None, second=None):
        super().__init__(rows)
        self.scores: dict[str, np.ndarray] = dict(scores or {})
        self.labels = np.zeros(0, bool) if labels is None else np.asarray(labels, bool)
        self.folds = np.zeros(0, int) if folds is None else np.asarray(folds, int)
        self.first = list(first or [])
        self.second = list(second or [])
        self.paths: list[Path] = []

    @property
    def failures(self) -> list[Row]:
        return [row for row in self if row.get("error")]


def condition_key(recognizer: str, occlusion: str, filler: str) -> str:
    return f"{recognizer}|{occlusion}|{filler}"


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rows_to_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if _plain(row.get(k)) is None else _plain(row.get(k))) for k in ROW_FIELDS})
    return buffer.getvalue()


def _atomic_npz(path: Path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def write_results(results: OccludedResults, folder=None, stem: str = DEFAULT_STEM, config: dict | None = None) -> list[Path]:
    """Atomically write ``<stem>.csv`` (tidy, one row per condition), ``<stem>.json`` (provenance,
    rows, failures) and ``<stem>_scores.npz`` (``conditions``, ``scores`` (C, N), ``labels``,
    ``folds``, ``first``, ``second``; no pickle) under ``folder`` (default results/lfw_occluded)."""
    folder = Path(folder) if folder is not None else results_dir() / "lfw_occluded"
    csv_path = write_text(folder / f"{stem}.csv", rows_to_csv(results))
    failures = [{"condition": r["condition"], "error": r["error"]} for r in results.failures]
    json_path = write_json(folder / f"{stem}.json", {
        **provenance(config), "rows": [{k: _plain(r.get(k)) for k in ROW_FIELDS} for r in results],
        "failures": failures})
    keys = sorted(results.scores)
    n = len(results.labels)
    matrix = np.stack([results.scores[k] for k in keys]) if keys else np.zeros((0, n), np.float32)
    npz_path = folder / f"{stem}_scores.npz"
    _atomic_npz(npz_path, conditions=np.array(keys, dtype=str), scores=matrix, labels=results.labels,
                folds=results.folds, first=np.array(results.first, dtype=str),
                second=np.array(results.second, dtype=str))
    return [csv_path, json_path, npz_path]


def load_results(folder=None, stem: str = DEFAULT_STEM) -> OccludedResults:
    """Rows (from the JSON) and scores (from the npz) of a written run. Runs written before the
    realism or C2ST columns existed get NaN there; the older spelling ``recogniser`` is read too."""
    folder = Path(folder) if folder is not None else results_dir() / "lfw_occluded"
    payload = json.loads((folder / f"{stem}.json").read_text())
    rows = [Row.from_mapping(row) for row in payload["rows"]]
    with np.load(folder / f"{stem}_scores.npz", allow_pickle=False) as stored:
        scores = dict(zip(stored["conditions"].tolist(), stored["scores"]))
        return OccludedResults(rows, scores, stored["labels"], stored["folds"], stored["first"].tolist(),
                               stored["second"].tolist())


def combine_results(*parts: OccludedResults) -> OccludedResults:
    """One result set from runs over the same pairs (e.g. ``lfw_occluded_sface`` + ``lfw_occluded_dlib``);
    a condition present in several keeps the last. Runs over different pairs are an error."""
    if not parts:
        return OccludedResults()
    base = parts[0]
    rows: dict[str, Row] = {}
    scores: dict[str, np.ndarray] = {}
    for part in parts:
        if part.second != base.second or not np.array_equal(part.labels, base.labels):
            raise ValueError("cannot combine occluded-LFW results over different pairs")
        rows.update((row["condition"], row) for row in part)
        scores.update(part.scores)
    return OccludedResults(list(rows.values()), scores, base.labels, base.folds, base.first, base.second)


def rename_filler(results: OccludedResults, old: str, new: str) -> OccludedResults:
    """The same run with filler ``old`` called ``new`` (rows and score keys), so two runs of one
    filler name (e.g. ``ca_id`` of two checkpoint pairs) can be combined and compared."""
    if not any(row["filler"] == old for row in results):
        raise ValueError(f"no filler {old!r} in this run (it has {', '.join(sorted({r['filler'] for r in results}))})")
    rows, scores = [], {k: v for k, v in results.scores.items()}
    for row in results:
        if row["filler"] == old:
            key = condition_key(row.recognizer, row.occlusion, new)
            if row.condition in scores:
                scores[key] = scores.pop(row.condition)
            row = dataclasses.replace(row, filler=new, condition=key)
        rows.append(row)
    return OccludedResults(rows, scores, results.labels, results.folds, results.first, results.second)


def recognizer_results(results: OccludedResults, recognizer: str) -> OccludedResults:
    """The rows and scores of one recognizer (e.g. to draw its figures from a combined report)."""
    rows = [row for row in results if row.recognizer == recognizer]
    keys = {row["condition"] for row in rows}
    scores = {k: v for k, v in results.scores.items() if k in keys}
    return OccludedResults(rows, scores, results.labels, results.folds, results.first, results.second)
