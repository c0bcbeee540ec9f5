"""The package's shape: rooms by role, imports flowing one way, no cycles (docs/architecture.md).

Every import counts, including those inside functions (they run too, only later).
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "snpmeasure"

# The rooms, bottom to top: a module may import its own room and the rooms below it.
RANKS = {
    "errors": 0, "limits": 0, "record": 0, "files": 0, "text": 0,
    "abi": 1,
    "formats": 2,
    "launch": 3,
    "engine": 4,
    "attestation": 5,
    "evidence": 5,
    "analysis": 6,
    "collateral": 6,
    "publish": 6,
    "cli": 7,
    "__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(base: str, name: str | None) -> str:
    """The module an import names: ``base.name`` if that is a module, else ``base``."""
    if name and f"{base}.{name}" in MODULES:
        return f"{base}.{name}"
    return base


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "snpmeasure":
                    found.add(_resolve(alias.name, None))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.split(".")[0] == "snpmeasure":
                base = node.module
            else:
                continue
            for alias in node.names:
                found.add(_resolve(base, alias.name))
    return {name for name in found if name in MODULES and name != module}


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_is_in_a_room():
    for module in MODULES:
        assert module == "snpmeasure" or room(module) in RANKS, \
            f"{module}: put it in a room (docs/architecture.md) and give the room a rank here"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "snpmeasure"))
def test_imports_flow_down(module):
    rank = RANKS[room(module)]
    for target in GRAPH[module]:
        if target == "snpmeasure":  # the package itself: only __version__, imported lazily
            continue
        assert RANKS[room(target)] <= rank, \
            f"{module} (room {room(module)}) imports {target} from a higher room"


def test_no_import_cycles():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_package_root_imports_nothing_eagerly():
    """``import snpmeasure`` stays cheap: the public names are loaded on first use."""
    assert GRAPH["snpmeasure"] <= set(), GRAPH["snpmeasure"]
    for name in ("errors", "limits", "record"):
        assert not {t for t in GRAPH[f"snpmeasure.{name}"] if room(t) not in (None, name)
                    and RANKS[room(t)] > 0}


def test_public_names_resolve():
    import snpmeasure

    for name in snpmeasure.__all__:
        assert getattr(snpmeasure, name) is not None, name


def test_the_walk_sees_function_level_imports():
    """The checker itself: a lazy import inside a function is found."""
    assert "snpmeasure.engine.measure" in GRAPH["snpmeasure.cli.measure"]
    assert "snpmeasure.formats.report" in GRAPH["snpmeasure.cli.analysis"]


def test_every_room_documents_itself():
    for name in RANKS:
        path = PACKAGE / name
        if path.is_dir():
            doc = importlib.import_module(f"snpmeasure.{name}").__doc__
            assert doc and doc.strip(), f"snpmeasure/{name}/__init__.py needs a docstring"
