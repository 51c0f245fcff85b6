"""Print the parameters of a CloudFormation YAML template, one per line: `Name<TAB>required` or `Name<TAB>optional`
(optional = the template gives a Default, even an empty one).

deploy/deploy.sh asks this which parameters it must pass, so a parameter added to the template is demanded by the
script without editing it. Standard library only, so a deploy needs no Herald virtualenv: the template's short-form
tags (!Ref, !Sub) stop a plain YAML loader, so this reads the `Parameters:` block by its indentation, the layout
herald.yaml uses (tests/ops/test_deploy.py checks the result against cfn-lint's full parse of the template).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z][\w:]*:")
_PARAMETER = re.compile(r"^(?P<indent> +)(?P<name>[A-Za-z0-9]+):\s*(?P<inline>\{.*\})?\s*(?:#.*)?$")
_DEFAULT = re.compile(r"^\s+Default\s*:")
_INLINE_DEFAULT = re.compile(r"[{,]\s*Default\s*:")


def template_parameters(text: str) -> dict[str, bool]:
    """Each parameter's name mapped to whether the template requires a value for it (it has no Default)."""
    required: dict[str, bool] = {}
    in_block = False
    indent: str | None = None
    current: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if _TOP_LEVEL_KEY.match(line):
            in_block = line.split(":", 1)[0] == "Parameters"
            current = None
            continue
        if not in_block:
            continue
        match = _PARAMETER.match(line)
        if match and (indent is None or match["indent"] == indent):
            indent = match["indent"]
            current = match["name"]
            required[current] = not (match["inline"] and _INLINE_DEFAULT.search(match["inline"]))
        elif current is not None and _DEFAULT.match(line) and len(line) - len(line.lstrip()) > len(indent or ""):
            required[current] = False
    return required


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: cfn_parameters.py TEMPLATE.yaml")
    parameters = template_parameters(Path(argv[0]).read_text(encoding="utf-8"))
    if not parameters:
        raise SystemExit(f"{argv[0]}: no Parameters block found")
    for name, is_required in parameters.items():
        print(f"{name}\t{'required' if is_required else 'optional'}")


if __name__ == "__main__":
    main(sys.argv[1:])
