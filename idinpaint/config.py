"""Run configuration: one YAML format. Profiles live in ``config/profiles.yaml``."""
from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from idinpaint.paths import REPO_ROOT

PROFILES_FILE = REPO_ROOT / "config" / "profiles.yaml"


def load_yaml(path) -> dict:
    path = Path(path)
    try:
        with open(path) as handle:
            loaded = yaml.safe_load(handle)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return loaded


#: The settings a run profile of ``config/profiles.yaml`` may have (the notebooks and the runner read them).
RUN_PROFILE_KEYS = {"aligned_dir": None, "pairs_per_fold": None, "workers": None, "recognizers": None,
                    "regions": None, "fills": None, "fillers": None, "tsne_people": None,
                    "tsne_images_per_person": None, "notebook_parameters": {}}


def check_keys(config: dict, known: dict, where: str, extra=(), open_paths=(), prefix: str = "") -> None:
    """Every key of ``config``, at every depth, must be known: a key of ``known`` at the same place
    (e.g. a YAML ``defaults`` block) or one of the dotted paths in ``extra`` (settings with a default
    in the code). Below a dotted path of ``open_paths`` anything goes (e.g. per-notebook parameters).
    An unknown key is a one-line ValueError naming it, where it was found and the closest known key
    (a typo such as ``trainer.max_epochz`` fails before any work instead of being saved and ignored)."""
    for key, value in (config or {}).items():
        path = f"{prefix}{key}"
        if path in open_paths:
            continue
        level = [k for k in (known or {})] + [p[len(prefix):] for p in extra
                                               if p.startswith(prefix) and "." not in p[len(prefix):]]
        if key not in level:
            match = difflib.get_close_matches(str(key), [str(k) for k in level], n=1, cutoff=0.6)
            hint = f"; did you mean {prefix}{match[0]}?" if match else ""
            known_here = ", ".join(sorted(str(k) for k in level)) or "none"
            raise ValueError(f"{where}: unknown key {path!r}{hint} (known {'under ' + prefix[:-1] if prefix else 'keys'}: "
                             f"{known_here})")
        below = (known or {}).get(key)
        if isinstance(value, dict) and (isinstance(below, dict) or any(p.startswith(path + ".") for p in extra)):
            check_keys(value, below if isinstance(below, dict) else {}, where, extra, open_paths, prefix=path + ".")


def load_profile(name: str, path=PROFILES_FILE) -> dict:
    """A profile's settings, with ``aligned_dir`` resolved against the repository root; an unknown
    setting (a typo) is a one-line error naming it (:func:`check_keys`)."""
    profiles = load_yaml(path)
    if name not in profiles:
        raise ValueError(f"{path}: unknown profile {name!r}; choose one of {', '.join(profiles)}")
    check_keys(profiles[name] or {}, RUN_PROFILE_KEYS, f"{path}: profile {name}", open_paths=("notebook_parameters",))
    profile = dict(profiles[name])
    if profile.get("aligned_dir"):
        aligned = Path(profile["aligned_dir"])
        profile["aligned_dir"] = str(aligned if aligned.is_absolute() else REPO_ROOT / aligned)
    profile["name"] = name
    return profile


def parse_overrides(items) -> dict:
    """``["trainer.accelerator=gpu", "data.num_workers=8"]`` -> a nested dict (values parsed as YAML).

    Used by ``idinpaint train --set``: the same profile runs on another machine without editing the
    YAML, and the resolved config (written to the run folder) records what was changed.
    """
    out: dict = {}
    for item in items or ():
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
            raise ValueError(f"override {item!r}: expected KEY.PATH=VALUE, e.g. trainer.accelerator=gpu")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: value is not valid YAML ({str(err).splitlines()[0]})") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"override {item!r}: {part} is set to a value and also used as a section")
            node = child
        node[parts[-1]] = value
    return out
