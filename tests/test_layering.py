"""The package's layering, checked on the source: the map of the package in ``docs/architecture.md``.

Rules (each has a negative test below that feeds the checker a small broken package):

1. **Every module has a floor.** :data:`FLOORS` places each top-level module or subpackage;
   :data:`SUBFLOORS` places each module inside a subpackage (its ``__init__`` is its top floor).
2. **Imports only go down.** A module imports from its own floor and the floors below, never
   from above: between top-level floors across the package, between sub-floors inside a
   subpackage. ``from X import Y`` counts as an import of the module ``X.Y`` when that is a module.
3. **No import cycle**, function-local imports included (a lazy import still closes a cycle).
4. **No private name crosses a module.** ``_name`` is never imported from another module, nor
   reached as ``module._name``; a private module (``cli/_common.py``) serves its own package only.
5. **A function-local import says why** on its line: a comment of at least three words that is
   not a linter directive (``cli`` is exempt: it imports each command's stage when it runs so
   that ``idinpaint --help`` stays instant).
6. **Figures only draw.** A module of :data:`DRAW_ONLY` imports from the package only what it lists
   (reading saved results and files, never a module that occludes, fills, embeds or evaluates): the
   computing is done below and its result handed in.
7. **Only the alignment layer calls the face detector.** Outside :data:`DETECTOR_CALLERS` no code calls
   ``.detect(...)`` or names ``cv2.FaceDetectorYN``: a photo is located once, by
   :func:`idinpaint.align.locate`, and everything else works on the :class:`~idinpaint.align.Located`.

``python tests/test_layering.py --write`` rewrites the map in ``docs/architecture.md`` from
:data:`FLOORS` and :data:`SUBFLOORS`; the test fails while the two disagree.
"""
from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "idinpaint"
ARCHITECTURE = REPO / "docs" / "architecture.md"

#: Top-level floors, lowest first: (what the floor does, its modules and subpackages).
FLOORS: list[tuple[str, set[str]]] = [
    ("foundation: paths, YAML config, provenance, atomic image/JSON writing, progress bars",
     {"paths", "config", "runinfo", "imageio", "progress"}),
    ("the run-folder format: run.json, config.json, stage folders and their exported files", {"runs"}),
    ("the photo path's one home: photo -> aligned crop and back (locate once, paste back once; the only "
     "caller of the face detector)", {"align"}),
    ("raw data: the dataset registry, the LFW protocol (pairs, folds, halves, the half router), "
     "the aligned-folder format", {"data"}),
    ("frozen recognizers (SFace, dlib): the Sampler, the identity loss and the scorers", {"recognizers"}),
    ("raw -> aligned: the batch job, each photo through align.locate", {"preprocess"}),
    ("aligned -> occluded (+mask): the one occlusion grammar", {"occlusion"}),
    ("losses", {"losses"}),
    ("networks: CA, Fusor, discriminator, O-Detector; their runtime wrappers", {"models"}),
    ("the weights format: inpainter and detector files, the shipped pairs, cards", {"checkpoints"}),
    ("a checkpoint as ONNX, and the onnxruntime backend", {"onnx_export"}),
    ("finding the occluder: the O-Detector door (one file or the LFW-half pair)", {"detection"}),
    ("blending a fill into its hole", {"blending"}),
    ("occluded -> filled", {"fillers"}),
    ("training: CA, Fusor and O-Detector on one Lightning stack", {"training"}),
    ("filling files and photos (a photo: located, its crop filled once, pasted back)", {"prepare", "inpaint"}),
    ("filled -> embedded -> scored", {"evaluation"}),
    ("the photo pipeline: locate the face once, segment the occluder on its crop, fill that crop with "
     "each filler, paste back, verify with the one pair verifier", {"recover"}),
    ("scored -> figures (draw only)", {"figures"}),
    ("front ends", {"notebooks", "cli", "__main__", "__init__"}),
]

#: Floors inside subpackages, lowest first (a subpackage's ``__init__`` is always its top floor).
SUBFLOORS: dict[str, list[set[str]]] = {
    "data": [{"registry", "aligned", "real_occlusions"}, {"lfw"}],
    "recognizers": [{"base", "dlib_torch"}, {"sface", "dlib_resnet"}],
    "occlusion": [{"regions", "landmarks", "maskthface", "metrics"}, {"random_masks", "spec"}, {"textures"},
                  {"shapes"}, {"apply", "composites"}, {"batch", "examples"}],
    "models": [{"layers", "contextual_attention"}, {"ca", "fusor", "discriminator", "detector"}, {"inpainter"}],
    "fillers": [{"base"}, {"classic", "donor", "mean_face", "reference"}, {"learned"}],
    "training": [{"masks", "augment", "budget"}, {"data"}, {"modules"}, {"detector"}, {"stages"}, {"pairs"}],
    "evaluation": [{"verification", "realism", "embeddings"}, {"results", "cache", "clean", "gallery"}, {"condition"},
                   {"distributed"}, {"protocol", "retention", "tsne", "report", "detector", "thresholds", "reference"},
                   {"curves", "runners", "verdict", "tryit"}],
    "cli": [{"_common"}, {"reference", "evaluate_models"},
            {"data", "evaluate", "train", "inpaint", "recover", "detector", "notebooks"}],
    "figures": [{"base"}, {"faces", "tsne"}, {"protocol", "training"}],
}

#: Branches of the flow that share the floors below them and never import each other, although one
#: sits above the other in :data:`FLOORS`: training makes the models the fillers load (through
#: ``checkpoints``), evaluation scores the fillers and never trains.
APART: list[tuple[str, str]] = [("training", "fillers"), ("training", "detection"), ("evaluation", "training"),
                                ("prepare", "training"), ("inpaint", "training"), ("recover", "training"),
                                ("figures", "training")]

#: Top-level floors whose function-local imports need no comment (see rule 5).
LOCAL_IMPORTS_ALLOWED = {"cli"}

#: Modules that only draw (rule 6): {module: {module it may import: the names it may take (None: any)}}.
DRAW_ONLY: dict[str, dict[str, set | None]] = {
    "figures": {"paths": None, "imageio": {"overlay", "read_rgb"}, "data.aligned": None,
                "align": {"ARCFACE_TEMPLATE"},   # the template the alignment figure draws, not the aligner
                "runs": {"logged_scalars"},      # a run's logged scalars, read back
                "runinfo": {"atomic_file"},      # the figure's files, written atomically
                "evaluation.report": None, "evaluation.results": None},
}
#: The modules that may call the face detector (rule 7).
DETECTOR_CALLERS = {"align"}
REASON = re.compile(r"#\s*(?!(?:noqa|type:|pragma|pylint|fmt|isort)\b)(\S+\s+){2,}\S+")


# --- the checker: works on any package folder (the real one, or a synthetic one in a test) -----------

@dataclass(frozen=True)
class Import:
    source: str       # the importing module (dotted)
    target: str       # the imported module, resolved (``from X import Y`` -> X.Y when that is a module)
    names: tuple      # the names taken from it (``from X import a, b``), () for ``import X``
    line: int
    local: bool       # inside a function
    comment: str      # the comment on the import's line, if any


def modules_of(package: Path) -> dict[str, tuple[Path, bool]]:
    """{dotted module name: (file, is a package __init__)}."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _comments(source: str) -> dict[int, str]:
    out = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            out[token.start[0]] = token.string
    return out


def imports_of(package: Path) -> list[Import]:
    modules = modules_of(package)
    root = package.name
    found = []
    for name, (path, is_package) in modules.items():
        source = path.read_text()
        tree = ast.parse(source)
        comments = _comments(source)
        local = {id(sub) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))}
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                pairs = [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                pairs = []
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    pairs.append((candidate, ()) if candidate in modules else (base, (alias.name,)))
            else:
                continue
            for target, names in pairs:
                if target == root or target.startswith(root + "."):
                    found.append(Import(name, target, names, node.lineno, id(node) in local,
                                        comments.get(node.lineno, "")))
    return found


def _resolve(target: str, modules) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def floor_of(module: str, floors=None, subfloors=None) -> tuple[int, int] | None:
    """(top floor, floor inside its subpackage) of a dotted module name; None when it has none."""
    floors = FLOORS if floors is None else floors
    subfloors = SUBFLOORS if subfloors is None else subfloors
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    index = next((i for i, (_, names) in enumerate(floors) if top in names), None)
    if index is None:
        return None
    if len(parts) <= 2:
        return index, 10 ** 6  # a top-level module, or a subpackage's __init__: the subpackage's top
    inner = subfloors.get(top)
    if inner is None:
        return None
    sub = next((i for i, names in enumerate(inner) if parts[2] in names), None)
    return None if sub is None else (index, sub)


def check(package: Path, floors=None, subfloors=None, local_allowed=None, apart=None, draw_only=None,
          detector_callers=None) -> dict[str, list[str]]:
    """Every violation of the seven rules, by rule: placed, down, cycles, private, local, draws, detector."""
    floors = FLOORS if floors is None else floors
    draw_only = DRAW_ONLY if draw_only is None else draw_only
    detector_callers = DETECTOR_CALLERS if detector_callers is None else detector_callers
    apart = {frozenset(pair) for pair in (APART if apart is None else apart)}
    subfloors = SUBFLOORS if subfloors is None else subfloors
    local_allowed = LOCAL_IMPORTS_ALLOWED if local_allowed is None else local_allowed
    modules = modules_of(package)
    imports = imports_of(package)
    problems: dict[str, list[str]] = {"placed": [], "down": [], "cycles": [], "private": [], "local": [],
                                      "draws": [], "detector": []}

    def place(module):
        return floor_of(module, floors, subfloors)

    for module, (_, is_package) in modules.items():
        parts = module.split(".")
        if len(parts) > 1 and place(module) is None:
            where = "FLOORS" if len(parts) == 2 else f"SUBFLOORS[{parts[1]!r}]"
            problems["placed"].append(f"{module}: place it in {where}")

    for imp in imports:
        target = _resolve(imp.target, modules)
        if target is None or target == package.name:
            continue
        mine, theirs = place(imp.source), place(target)
        if mine is None or theirs is None:
            continue
        # inside one subpackage the sub-floors decide; between top-level names, the top floors
        same_package = imp.source.split(".")[:2] == target.split(".")[:2]
        if (theirs[0] > mine[0]) or (same_package and theirs[1] > mine[1]):
            problems["down"].append(f"{imp.source}:{imp.line} imports {target} (its floor is above)")
        tops = frozenset(module.split(".")[1] if "." in module else "__init__" for module in (imp.source, target))
        if tops in apart:
            problems["down"].append(f"{imp.source}:{imp.line} imports {target} (branches kept apart: "
                                    f"{' and '.join(sorted(tops))})")
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private and target != imp.source:
            problems["private"].append(f"{imp.source}:{imp.line} imports private {', '.join(private)} from {target}")
        last = target.rsplit(".", 1)[-1]
        if last.startswith("_") and not last.startswith("__"):
            owner = target.rsplit(".", 1)[0]
            if not (imp.source == owner or imp.source.startswith(owner + ".")):
                problems["private"].append(f"{imp.source}:{imp.line} imports private module {target}")
        top = imp.source.split(".")[1] if "." in imp.source else "__init__"
        if imp.local and top not in local_allowed and not REASON.search(imp.comment):
            problems["local"].append(f"{imp.source}:{imp.line}: a function-local import of {target} without a "
                                     "reason on its line (a comment of three words or more)")

        drawer = imp.source.partition(".")[2].split(".")[0]   # a drawing module, or a module of a drawing package
        relative = target.partition(".")[2]
        if drawer in draw_only and relative.split(".")[0] != drawer:
            allowed = draw_only[drawer]
            if relative not in allowed:
                problems["draws"].append(f"{imp.source}:{imp.line} imports {target}: a module that only draws "
                                         f"takes its input from its caller")
            elif allowed[relative] is not None and not set(imp.names) <= allowed[relative]:
                extra = sorted(set(imp.names) - allowed[relative]) or ["the module"]
                problems["draws"].append(f"{imp.source}:{imp.line} takes {', '.join(extra)} from {target}: a module "
                                         "that only draws takes its input from its caller")

    problems["private"] += _private_attributes(package, modules)
    problems["detector"] += _detector_calls(modules, detector_callers)

    edges: dict[str, set[str]] = {name: set() for name in modules}
    for imp in imports:
        target = _resolve(imp.target, modules)
        if target is not None and target != imp.source and target != package.name:
            edges[imp.source].add(target)
    problems["cycles"] = _cycles(edges)
    return problems


def _private_attributes(package: Path, modules) -> list[str]:
    """``module._name`` where ``module`` was bound by ``import pkg.x as module`` / ``from pkg import x``."""
    found = []
    for name, (path, _) in modules.items():
        tree = ast.parse(path.read_text())
        bound = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.asname:
                        bound[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        bound[alias.asname or alias.name] = full
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and bound[node.value.id] != name):
                found.append(f"{name}:{node.lineno} reaches private {bound[node.value.id]}.{node.attr}")
    return found


def _detector_calls(modules, callers) -> list[str]:
    """``x.detect(...)`` calls and ``FaceDetectorYN`` names outside the modules allowed to find faces."""
    found = []
    for name, (path, _) in modules.items():
        if name.partition(".")[2] in callers:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "detect":
                found.append(f"{name}:{node.lineno} calls the face detector (.detect): locate the photo with "
                             "idinpaint.align.locate")
            elif (isinstance(node, ast.Attribute) and node.attr == "FaceDetectorYN") or \
                    (isinstance(node, ast.Name) and node.id == "FaceDetectorYN"):
                found.append(f"{name}:{node.lineno} names cv2.FaceDetectorYN outside the alignment layer")
    return found


def _cycles(edges: dict[str, set[str]]) -> list[str]:
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return cycles


# --- the map --------------------------------------------------------------------------------------------

MAP_BEGIN = "<!-- the map: generated by `python tests/test_layering.py --write`; do not edit by hand -->"
MAP_END = "<!-- end of the map -->"


def _first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    line = " ".join(doc.split("\n\n")[0].split())
    return line.replace("|", "\\|")


def render_map(package: Path = PACKAGE) -> str:
    """The floors as a markdown table, top floor first, each module with its docstring's first line."""
    modules = modules_of(package)
    rows = ["| floor | module | what it is |", "|---|---|---|"]
    for index in reversed(range(len(FLOORS))):
        what, names = FLOORS[index]
        rows.append(f"| **{index}** | | **{what}** |")
        for name in sorted(names):
            full = f"{package.name}.{name}" if name != "__init__" else package.name
            if full not in modules:
                continue
            path, is_package = modules[full]
            label = f"`{name}/`" if is_package and name != "__init__" else f"`{name}.py`"
            rows.append(f"| | {label} | {_first_line(path)} |")
            for level in reversed(range(len(SUBFLOORS.get(name, [])))):
                for sub in sorted(SUBFLOORS[name][level]):
                    if f"{full}.{sub}" in modules:
                        rows.append(f"| | &nbsp;&nbsp;{level}. `{name}/{sub}.py` | "
                                    f"{_first_line(modules[f'{full}.{sub}'][0])} |")
    return "\n".join([MAP_BEGIN, *rows, MAP_END])


def _write_map() -> None:
    text = ARCHITECTURE.read_text()
    start, end = text.index(MAP_BEGIN), text.index(MAP_END) + len(MAP_END)
    ARCHITECTURE.write_text(text[:start] + render_map() + text[end:])


# --- the package ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def problems():
    return check(PACKAGE)


@pytest.mark.parametrize("rule", ["placed", "down", "cycles", "private", "local", "draws", "detector"])
def test_the_package_keeps_the_rule(problems, rule):
    assert not problems[rule], "\n".join(problems[rule])


def _structure(table: str) -> list[str]:
    """The map's floors and modules, without the descriptions (docstrings change; the floors must not)."""
    return [line.rsplit("|", 2)[0] for line in table.splitlines()]


def test_the_map_in_the_docs_is_the_floors():
    text = ARCHITECTURE.read_text()
    assert MAP_BEGIN in text and MAP_END in text, f"{ARCHITECTURE}: no map markers"
    shown = text[text.index(MAP_BEGIN): text.index(MAP_END) + len(MAP_END)]
    assert _structure(shown) == _structure(render_map()), \
        "the map is out of date: run `python tests/test_layering.py --write`"


def test_the_readme_points_at_the_map():
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `idinpaint/`"))
    assert "docs/architecture.md" in row and len(row) < 400, row


# --- negative tests: a synthetic package that breaks each rule -------------------------------------------

SYNTHETIC_FLOORS = [("low", {"low"}), ("high", {"high", "pkg"}), ("front", {"__init__"})]
SYNTHETIC_SUBFLOORS = {"pkg": [{"a"}, {"b"}]}


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "fakepkg"
    for relative, text in {"__init__.py": "", "low.py": "", "high.py": "", "pkg/__init__.py": "",
                           "pkg/a.py": "", "pkg/b.py": "", **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _check(root: Path) -> dict[str, list[str]]:
    return check(root, SYNTHETIC_FLOORS, SYNTHETIC_SUBFLOORS, local_allowed=set(), apart=[], draw_only={},
                 detector_callers={"low"})


def test_a_clean_synthetic_package_passes(tmp_path):
    root = _package(tmp_path, {"high.py": "from fakepkg.low import thing\n",
                               "pkg/b.py": "from fakepkg.pkg import a\nfrom fakepkg.pkg.a import x\n",
                               "low.py": "def f():\n    import fakepkg  # the package root is fine\n"})
    assert not any(_check(root).values()), _check(root)


def test_an_unplaced_module_is_caught(tmp_path):
    root = _package(tmp_path, {"stray.py": "", "pkg/c.py": ""})
    placed = _check(root)["placed"]
    assert any("fakepkg.stray" in p for p in placed) and any("fakepkg.pkg.c" in p for p in placed)


@pytest.mark.parametrize("files, culprit", [
    ({"low.py": "from fakepkg.high import thing\n"}, "fakepkg.low:1 imports fakepkg.high"),
    ({"low.py": "from fakepkg import high\n"}, "fakepkg.low:1 imports fakepkg.high"),
    ({"low.py": "def f():\n    from fakepkg.pkg import b  # needed only when called here\n"},
     "fakepkg.low:2 imports fakepkg.pkg.b"),
    # module-level floors inside a subpackage: a below b
    ({"pkg/a.py": "from fakepkg.pkg.b import thing\n"}, "fakepkg.pkg.a:1 imports fakepkg.pkg.b"),
    ({"pkg/a.py": "from . import b\n"}, "fakepkg.pkg.a:1 imports fakepkg.pkg.b"),
    ({"pkg/a.py": "from fakepkg.pkg import thing\n"}, "fakepkg.pkg.a:1 imports fakepkg.pkg"),
])
def test_an_upward_import_is_caught(tmp_path, files, culprit):
    assert any(culprit in p for p in _check(_package(tmp_path, files))["down"])


def test_an_import_between_branches_kept_apart_is_caught(tmp_path):
    root = _package(tmp_path, {"high.py": "from fakepkg.low import thing\n"})
    found = check(root, SYNTHETIC_FLOORS, SYNTHETIC_SUBFLOORS, local_allowed=set(), apart=[("high", "low")])
    assert any("kept apart" in p for p in found["down"])


@pytest.mark.parametrize("files", [
    {"pkg/a.py": "from fakepkg.pkg import b\n", "pkg/b.py": "from fakepkg.pkg import a\n"},  # `from X import mod`
    {"pkg/a.py": "def f():\n    from fakepkg.pkg import b  # only when f runs, still a cycle\n",
     "pkg/b.py": "from fakepkg.pkg.a import f\n"},
])
def test_a_cycle_is_caught_also_through_function_local_imports(tmp_path, files):
    cycles = _check(_package(tmp_path, files))["cycles"]
    assert any("fakepkg.pkg.a" in c and "fakepkg.pkg.b" in c for c in cycles), cycles


@pytest.mark.parametrize("files", [
    {"high.py": "from fakepkg.low import _helper\n"},
    {"high.py": "from fakepkg import low\nlow._helper()\n"},
    {"high.py": "import fakepkg.low as low\nlow._helper()\n"},
    {"high.py": "from fakepkg.pkg._private import x\n", "pkg/_private.py": ""},
])
def test_a_private_name_crossing_modules_is_caught(tmp_path, files):
    root = _package(tmp_path, files)
    subfloors = {"pkg": [{"a", "_private"}, {"b"}]}
    assert check(root, SYNTHETIC_FLOORS, subfloors, local_allowed=set(), apart=[])["private"]


@pytest.mark.parametrize("line", [
    "    from fakepkg.low import thing\n",
    "    from fakepkg.low import thing  #\n",
    "    from fakepkg.low import thing  # noqa: F401 E402 x\n",
    "    from fakepkg.low import thing; x = '# a string is not a reason'\n",
])
def test_an_unexplained_local_import_is_caught(tmp_path, line):
    assert _check(_package(tmp_path, {"high.py": "def f():\n" + line}))["local"]


@pytest.mark.parametrize("text", ["from fakepkg.low import compute\n", "from fakepkg import low\n",
                                  "from fakepkg.pkg.a import allowed, compute\n"])
def test_a_drawing_module_that_imports_what_computes_is_caught(tmp_path, text):
    root = _package(tmp_path, {"high.py": text})
    draws = check(root, SYNTHETIC_FLOORS, SYNTHETIC_SUBFLOORS, local_allowed=set(), apart=[],
                  draw_only={"high": {"pkg.a": {"allowed"}}}, detector_callers=set())["draws"]
    assert any("fakepkg.high:1" in p for p in draws), draws
    clean = _package(tmp_path / "clean", {"high.py": "from fakepkg.pkg.a import allowed\n"})
    assert not check(clean, SYNTHETIC_FLOORS, SYNTHETIC_SUBFLOORS, local_allowed=set(), apart=[],
                     draw_only={"high": {"pkg.a": {"allowed"}}}, detector_callers=set())["draws"]


@pytest.mark.parametrize("text", ["def f(yunet, photo):\n    return yunet.detect(photo)\n",
                                  "import cv2\nnet = cv2.FaceDetectorYN.create('m.onnx', '', (320, 320))\n"])
def test_a_face_detector_called_outside_the_alignment_layer_is_caught(tmp_path, text):
    found = _check(_package(tmp_path, {"high.py": text}))["detector"]
    assert any(p.startswith("fakepkg.high:") for p in found), found
    assert not _check(_package(tmp_path / "ok", {"low.py": text}))["detector"]  # the alignment layer may


def test_an_explained_local_import_passes(tmp_path):
    root = _package(tmp_path, {"high.py": "def f():\n    from fakepkg.low import thing  # heavy: torch on use\n"})
    assert not _check(root)["local"]


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--write"]:
        _write_map()
        print(f"wrote the map into {ARCHITECTURE}")
    else:
        print(render_map())
