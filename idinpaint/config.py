"""Run configuration: one YAML format. Profiles live in ``config/profiles.yaml``."""
from __future__ import annotations

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


def load_profile(name: str, path=PROFILES_FILE) -> dict:
    """A profile's settings, with ``aligned_dir`` resolved against the repository root."""
    profiles = load_yaml(path)
    if name not in profiles:
        raise ValueError(f"{path}: unknown profile {name!r}; choose one of {', '.join(profiles)}")
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
