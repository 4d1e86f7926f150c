"""Configuration: one YAML format. Run profiles (what the workbook and its commands run: ``smoke``,
``cpu``, ``paper``) live in ``config/profiles.yaml``; training recipes (how the CA, the Fusor and the
O-Detector are trained) in ``config/train.yaml``, resolved by :func:`load_training_config`. A run
profile names the recipe it trains with (``recipe``)."""
from __future__ import annotations

import copy
import difflib
import sys
from pathlib import Path

import yaml

from idinpaint.paths import REPO_ROOT, aligned_folder

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
RUN_PROFILE_KEYS = {"aligned_dir": None, "recipe": None, "pairs_per_fold": None, "workers": None, "recognizers": None,
                    "regions": None, "fills": None, "fillers": None, "tsne_people": None,
                    "tsne_images_per_person": None, "mean_face_images": None, "notebook_parameters": {}}


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
    """A profile's settings, with ``aligned_dir`` resolved (:func:`idinpaint.paths.aligned_folder`); an unknown
    setting (a typo) is a one-line error naming it (:func:`check_keys`)."""
    profiles = load_yaml(path)
    if name not in profiles:
        raise ValueError(f"{path}: unknown profile {name!r}; choose one of {', '.join(profiles)}")
    check_keys(profiles[name] or {}, RUN_PROFILE_KEYS, f"{path}: profile {name}", open_paths=("notebook_parameters",))
    profile = dict(profiles[name])
    if profile.get("aligned_dir"):
        profile["aligned_dir"] = str(aligned_folder(profile["aligned_dir"]))
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


# --- training recipes -----------------------------------------------------------------------------

#: The one training file: CA, Fusor and O-Detector recipes (:func:`load_training_config`).
TRAIN_CONFIG = REPO_ROOT / "config" / "train.yaml"
#: What a stage may train (``model:``); :mod:`idinpaint.training.stages` has a Lightning module for each.
TRAINING_MODELS = ("ca", "fusor", "detector")
#: The training recipe of ``idinpaint detector train --recipe <name>``.
DETECTOR_RECIPE = "detector_{}"
STAGE_KEYS = {"name", "model", "steps", "epochs", "id_weight", "data", "init_from", "init_only", "losses"}
INIT_PARTS = ("ca", "fusor", "discriminator")
#: Settings a recipe or ``--set`` may give besides the keys of ``defaults`` in config/train.yaml: they
#: have their default in the code. Anything else is a typo (:func:`idinpaint.config.check_keys`).
CODE_DEFAULT_KEYS = ("trainer.export", "trainer.projector_every", "discriminator.local", "fusor.band_limit",
                     "fusor.luma_only")
#: Sections whose keys are names, not settings: the loss weights of each model.
OPEN_KEYS = ("losses.ca", "losses.fusor")


def deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def training_recipes(raw: dict, path) -> dict:
    """The recipes of a training file: its ``recipes:`` section (a file written before recipes had their
    own word names them ``profiles:``; it is read, and said so in one line)."""
    if "recipes" in raw or "profiles" not in raw:
        return raw.get("recipes") or {}
    print(f"note: {path}: 'profiles:' is now 'recipes:' (training recipes; run profiles are config/profiles.yaml)",
          file=sys.stderr)
    return raw.get("profiles") or {}


def load_training_config(path=TRAIN_CONFIG, recipe: str = "smoke", overrides: dict | None = None, *,
                         profile: str | None = None) -> dict:
    """The resolved training recipe of ``config/train.yaml`` (the one loader of every training: CA,
    Fusor, O-Detector): ``defaults`` <- the recipes it ``extends`` <- ``recipes[recipe]`` <-
    ``overrides``; every key checked against ``defaults`` (:func:`check_keys`), stages checked.
    ``profile``: the older name of ``recipe``."""
    recipe = profile if profile is not None else recipe
    raw = load_yaml(path)
    profiles = training_recipes(raw, path)
    if recipe not in profiles:
        raise ValueError(f"{path}: unknown recipe {recipe!r}; choose one of {', '.join(profiles)}")
    chain, name = [], recipe
    while name is not None:  # a recipe may extend another: defaults <- base <- ... <- recipe
        if name in chain or name not in profiles:
            raise ValueError(f"{path}: recipe {recipe!r} extends {'itself' if name in chain else repr(name)}, "
                             "which is no recipe")
        chain.append(name)
        name = (profiles[name] or {}).get("extends")
    config = raw.get("defaults") or {}
    known = {**config, "stages": None}
    for name in reversed(chain):
        check_keys({k: v for k, v in (profiles[name] or {}).items() if k != "extends"}, known,
                   f"{path}: recipe {name}", extra=CODE_DEFAULT_KEYS, open_paths=OPEN_KEYS)
        config = deep_merge(config, {k: v for k, v in (profiles[name] or {}).items() if k != "extends"})
    check_keys(overrides or {}, known, "--set", extra=CODE_DEFAULT_KEYS, open_paths=OPEN_KEYS)
    overrides = dict(overrides or {})
    per_stage = overrides.pop("stages") if isinstance(overrides.get("stages"), dict) else {}
    config = deep_merge(config, overrides)
    config["recipe"] = recipe
    stages = config.get("stages") or []
    for stage_name, update in per_stage.items():  # --set stages.<name>.steps=200 changes that stage only
        index = next((i for i, s in enumerate(stages) if s.get("name") == stage_name), None)
        if index is None or not isinstance(update, dict):
            raise ValueError(f"--set stages.{stage_name}: this recipe's stages are "
                             f"{', '.join(str(s.get('name')) for s in stages)}; give stages.<name>.<key>=<value>")
        stages[index] = deep_merge(stages[index], update)
    if not stages:
        raise ValueError(f"{path}: recipe {recipe!r} has no stages")
    names = [s.get("name") for s in stages]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"{path}: recipe {recipe!r}: every stage needs a unique name, got {names}")
    for s in stages:
        unknown = sorted(set(s) - STAGE_KEYS)
        if unknown:
            raise ValueError(f"stage {s['name']}: unknown keys {unknown}; valid: {sorted(STAGE_KEYS)}")
        if s.get("model") not in TRAINING_MODELS:
            raise ValueError(f"stage {s['name']}: model must be one of {', '.join(TRAINING_MODELS)}, "
                             f"got {s.get('model')!r}")
        bad_parts = sorted(set(s.get("init_only") or ()) - set(INIT_PARTS))
        if bad_parts:
            raise ValueError(f"stage {s['name']}: init_only takes {', '.join(INIT_PARTS)}, got {bad_parts}")
        check_keys(s.get("data") or {}, known.get("data") or {}, f"{path}: stage {s['name']}", prefix="data.")
        if (s.get("steps") is None) == (s.get("epochs") is None):
            raise ValueError(f"stage {s['name']}: give exactly one of steps (training batches) or epochs")
    export = (config.get("trainer") or {}).get("export", "best")
    if export not in ("best", "last"):
        raise ValueError(f"{path}: recipe {recipe!r}: trainer.export must be best or last, got {export!r}")
    return config
