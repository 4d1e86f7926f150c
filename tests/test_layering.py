"""The package's layering: imports only go down the data flow, there is no import cycle, and a
function-local import of the package says why it is local.

Read the list below as the map of the package, lowest floor first. A module may import from its
own floor and from the floors below it, never from a floor above: raw -> aligned -> occluded ->
filled -> embedded -> scored -> figures, with the frozen recognizers and the networks as tools the
stages share. A new top-level module must be placed here (the test fails until it is).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "idinpaint"

FLOORS = [
    ("foundation", {"paths", "config", "runinfo", "imageio", "progress"}),
    ("alignment", {"align"}),
    ("raw data: datasets, the LFW protocol, the aligned-folder format", {"data"}),
    ("frozen recognizers (also the Sampler)", {"recognizers"}),
    ("raw -> aligned", {"preprocess"}),
    ("aligned -> occluded (+mask)", {"occlusion"}),
    ("losses", {"losses"}),
    ("networks", {"models"}),
    ("the checkpoint format", {"checkpoints"}),
    ("a checkpoint as ONNX, and the onnxruntime backend", {"onnx_export"}),
    ("finding the occluder: the O-Detector, its training and metrics", {"detection"}),
    ("blending a fill into its hole", {"blending"}),
    ("occluded -> filled", {"fillers"}),
    ("training the learned fillers", {"training"}),
    ("filling files and photos", {"prepare", "inpaint"}),
    ("filled -> embedded -> scored", {"evaluation"}),
    ("a photo recovered and verified (find, fill, score at the shipped thresholds)", {"recover"}),
    ("scored -> figures", {"figures"}),
    ("front ends", {"notebooks", "cli", "__main__", "__init__"}),
]
FLOOR_OF = {name: index for index, (_, names) in enumerate(FLOORS) for name in names}

#: Where a function-local import of the package is the design: the CLI builds its parser without
#: numpy or torch (so `idinpaint --help` is instant) and imports each command's stage when it runs.
LOCAL_IMPORTS_ALLOWED = {"cli"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        yield name, path, is_package


def _imports(name: str, path: Path, is_package: bool):
    """(imported module, line, is function-local, source line) for every import of the package."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local.update(id(sub) for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom)))
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
            else:
                targets = [node.module or ""]
        for target in targets:
            if target == "idinpaint" or target.startswith("idinpaint."):
                yield target, node.lineno, id(node) in local, lines[node.lineno - 1]


def _floor_name(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph():
    return {name: list(_imports(name, path, is_package)) for name, path, is_package in _modules()}


def test_every_module_has_a_floor():
    missing = sorted({_floor_name(name) for name in _graph()} - set(FLOOR_OF))
    assert not missing, f"place these modules in FLOORS: {missing}"


def test_imports_only_go_down_the_flow():
    upward = []
    for name, imports in _graph().items():
        own = FLOOR_OF[_floor_name(name)]
        for target, line, _, _ in imports:
            if target == "idinpaint":
                continue
            theirs = FLOOR_OF.get(_floor_name(target))
            if theirs is not None and theirs > own:
                upward.append(f"{name}:{line} imports {target} ({FLOORS[theirs][0]} is above {FLOORS[own][0]})")
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    known = set(graph)

    def resolve(target: str) -> str | None:  # `from idinpaint.occlusion import x` -> the module that exists
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    edges = {name: sorted({resolve(t) for t, _, is_local, _ in imports if not is_local} - {None, name, "idinpaint"})
             for name, imports in graph.items()}
    # A package's __init__ importing its own submodules is how a package exports: not a cycle.
    for name in edges:
        edges[name] = [t for t in edges[name] if not (name in graph and t.startswith(name + "."))]
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(cycles)


def test_function_local_imports_say_why():
    unexplained = []
    for name, imports in _graph().items():
        if _floor_name(name) in LOCAL_IMPORTS_ALLOWED:
            continue
        for target, line, is_local, text in imports:
            if is_local and "#" not in text:
                unexplained.append(f"{name}:{line}: {text.strip()}")
    assert not unexplained, ("import at module level, or say on the line why it must be local "
                             "(a heavy optional dependency):\n" + "\n".join(unexplained))


@pytest.mark.parametrize("bad, why", [
    ("from idinpaint.evaluation.report import markdown_table", "upward"),
    ("from idinpaint.figures import save_figure", "upward"),
])
def test_the_check_catches_an_upward_import(tmp_path, monkeypatch, bad, why):
    """The rule is not vacuous: a data-floor module importing a higher floor is reported."""
    fake = tmp_path / "idinpaint" / "data"
    fake.mkdir(parents=True)
    (tmp_path / "idinpaint" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "bad.py").write_text(bad + "\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "idinpaint")
    with pytest.raises(AssertionError, match="imports idinpaint"):
        test_imports_only_go_down_the_flow()
