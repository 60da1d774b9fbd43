"""Read pyproject.toml for bootstrap.sh (the project itself is not a package, so pip never does).

    python scripts/deps.py [EXTRA ...]          print the pinned requirements (+ those extras)
    python scripts/deps.py --install-scripts BIN   write a wrapper into BIN for each console script
                                                of [project.scripts], and remove the wrappers of
                                                scripts no longer declared

A wrapper is the few lines pip would write: the virtualenv's interpreter, then the entry point
(the .pth file bootstrap.sh writes makes the repository importable).
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# Marks a file in BIN as written here, so a script dropped from pyproject.toml is removed again.
MARKER = "# dispute-platform console script, written by scripts/bootstrap.sh from [project.scripts]"
_ENTRY = re.compile(r"^(?P<module>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*):(?P<func>[A-Za-z_]\w*)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def project(path: Path = PYPROJECT) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(path.read_text())["project"]
    return data


def requirements(extras: list[str], path: Path = PYPROJECT) -> list[str]:
    meta = project(path)
    reqs = list(meta["dependencies"])
    for extra in extras:
        reqs += meta["optional-dependencies"][extra]
    return reqs


def console_scripts(path: Path = PYPROJECT) -> dict[str, str]:
    """[project.scripts]: name -> "module:function", each checked (it is written into code)."""
    declared: dict[str, str] = project(path).get("scripts", {})
    for name, entry in declared.items():
        if not _NAME.match(name) or not _ENTRY.match(entry):
            raise SystemExit(
                f"pyproject.toml [project.scripts]: {name} = {entry!r} is not name = 'module:function'"
            )
    return declared


def _sh_quoted(text: str) -> str:
    """`text` inside double quotes for /bin/sh."""
    for special in ("\\", '"', "$", "`"):
        text = text.replace(special, "\\" + special)
    return f'"{text}"'


def wrapper(entry: str, python: Path) -> str:
    """The script pip would write. The interpreter's path is absolute (the script runs from any
    directory); one the kernel cannot take on a #! line (a space, over 127 bytes) goes through
    /bin/sh instead, as pip does: to Python, the sh line is only a string."""
    match = _ENTRY.match(entry)
    assert match is not None, entry
    interpreter = str(python.absolute())
    if " " in interpreter or len(interpreter) > 127:
        start = "#!/bin/sh\n'''exec' " + _sh_quoted(interpreter) + ' "$0" "$@"\n' + "' '''\n"
    else:
        start = f"#!{interpreter}\n"
    return (
        f"{start}{MARKER}\n"
        "import sys\n\n"
        f"from {match['module']} import {match['func']}\n\n"
        'if __name__ == "__main__":\n'
        f"    sys.exit({match['func']}())\n"
    )


def install_scripts(bin_dir: Path, path: Path = PYPROJECT, python: Path | None = None) -> list[Path]:
    """Write (atomically, mode 755) a wrapper per declared script; the interpreter is BIN's python
    (the virtualenv's) unless another is given."""
    declared = console_scripts(path)
    written = []
    for name, entry in declared.items():
        target = bin_dir / name
        scratch = target.with_name(f".{name}.tmp")
        scratch.write_text(wrapper(entry, python or bin_dir / "python"))
        scratch.chmod(0o755)
        os.replace(scratch, target)
        written.append(target)
    for stale in bin_dir.iterdir():
        if stale.name not in declared and stale.is_file() and _ours(stale):
            stale.unlink()
    return written


def _ours(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return MARKER.encode() in file.read(512)
    except OSError:
        return False


def main(argv: list[str]) -> None:
    if argv[:1] == ["--install-scripts"]:
        if len(argv) != 2:
            raise SystemExit("usage: deps.py --install-scripts BIN_DIR")
        install_scripts(Path(argv[1]))
        return
    print("\n".join(requirements(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
