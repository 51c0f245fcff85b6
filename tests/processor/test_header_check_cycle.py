"""The header check and the MIME builder do not import each other (issue 15, item 8): the envelope both read lives in
its own module, so the builder depends on the check and the check on nothing of the builder's."""

from __future__ import annotations

import ast
from pathlib import Path

import herald_processor

SOURCE = Path(herald_processor.__file__).parent


def _imports(module: str) -> set[str]:
    """Every module `module` imports, at run time or for type checking alike."""
    tree = ast.parse((SOURCE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_header_check_does_not_import_the_builder() -> None:
    assert "herald_processor.header_check" in _imports("mime")  # the builder runs the check first
    assert "herald_processor.mime" not in _imports("header_check")
    assert "herald_processor.envelope" in _imports("header_check")
    assert not {"herald_processor.mime", "herald_processor.header_check"} & _imports("envelope")
