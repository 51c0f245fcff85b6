"""Print the third-party dependencies declared by the given pyproject.toml files, one per line.

The Dockerfiles install these before copying any source, so a code change reuses the dependency layer; the Herald
packages themselves (`herald-*`) are installed afterwards from the copied source, exactly as `make install` does.
Standard library only: it runs in the bare build image.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def third_party_dependencies(pyprojects: list[Path]) -> list[str]:
    seen: dict[str, None] = {}
    for path in pyprojects:
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        for requirement in project.get("dependencies", []):
            if not requirement.lower().startswith("herald-"):
                seen.setdefault(requirement, None)
    return list(seen)


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: pyproject_deps.py PYPROJECT [PYPROJECT ...]")
    print("\n".join(third_party_dependencies([Path(arg) for arg in argv])))


if __name__ == "__main__":
    main(sys.argv[1:])
