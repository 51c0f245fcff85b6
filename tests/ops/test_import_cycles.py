"""No import cycles among the modules of Herald's packages.

A static check with `ast`: every import of every module, those under `if TYPE_CHECKING:` and inside functions
included (a cycle through a type-only import is still two modules that each need the other to be understood), is an
edge to the module it names; a cycle is a strongly connected component of more than one module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = sorted(
    init.parent
    for pattern in ("libs/*/src/herald_*/__init__.py", "services/*/src/herald_*/__init__.py", "cli/src/*/__init__.py")
    for init in ROOT.glob(pattern)
)

KNOWN_TO_BE_FIXED: set[frozenset[str]] = set()  # none: every cycle the issue named is broken


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted name → file of every module of a package (`pkg.sub` for `pkg/sub/__init__.py`)."""
    modules = {}
    for path in package_dir.rglob("*.py"):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported dotted name lands in: itself, or the nearest enclosing module."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules it imports, among `modules`."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, is_package, node)
                # `from pkg import sub` imports the module pkg.sub when there is one, else a name of pkg.
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    graph[module].add(resolved)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_is_found() -> None:
    names = {path.name for path in PACKAGE_DIRS}
    assert names == {
        "herald_common",
        "herald_emulator",
        "herald_campaign",
        "herald_processor",
        "herald_template",
        "herald_analytics",
        "herald_cli",
    }


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda path: path.name)
def test_no_import_cycles(package_dir: Path) -> None:
    found = [c for c in cycles(import_graph(module_names(package_dir))) if c not in KNOWN_TO_BE_FIXED]
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(sorted(c)) for c in found)


def test_the_check_finds_type_only_relative_and_indirect_cycles(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg.a import A\n",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\nclass A: ...\n",
        "b.py": "from . import a\nB = 1\n",  # a ↔ b: one side type-only, the other relative
        "c.py": "def f():\n    import pkg.sub.d\n",  # c → d → e → c, the first inside a function
        "sub/__init__.py": "",
        "sub/d.py": "from ..e import x\n",
        "e.py": "from pkg import c\nx = 1\n",
        "f.py": "from pkg.a import A\nimport json\n",  # imports into a cycle, is not in one
    }
    for name, text in files.items():
        (package / name).write_text(text)
    found = set(cycles(import_graph(module_names(package))))
    assert found == {frozenset({"pkg.a", "pkg.b"}), frozenset({"pkg.c", "pkg.sub.d", "pkg.e"})}
