"""Print the third-party requirements of the given pyproject.toml files, one per line: what the packages declare,
then what their build backends require.

`make lock` pins these, with hashes, into deploy/docker/requirements.lock; the image build installs that lock before
copying any source (a code change reuses the dependency layer), then builds the Herald packages (`herald-*`) from
the copied source with the locked build backend. Standard library only.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def third_party_dependencies(pyprojects: list[Path]) -> list[str]:
    seen: dict[str, None] = {}
    for path in pyprojects:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        for requirement in document["project"].get("dependencies", []):
            if not requirement.lower().startswith("herald-"):
                seen.setdefault(requirement, None)
    for path in pyprojects:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        for requirement in document.get("build-system", {}).get("requires", []):
            seen.setdefault(requirement, None)
    return list(seen)


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: pyproject_deps.py PYPROJECT [PYPROJECT ...]")
    print("\n".join(third_party_dependencies([Path(arg) for arg in argv])))


if __name__ == "__main__":
    main(sys.argv[1:])
