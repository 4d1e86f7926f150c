"""Run configuration: one YAML format. Profiles live in ``config/profiles.yaml``."""
from __future__ import annotations

from pathlib import Path

import yaml

from .paths import REPO_ROOT

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
