"""Generated code must match protos/: regenerate into a temp folder and compare byte for byte."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

from scripts.gen_protos import GEN, PROTOS, generate


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    generate(tmp_path / "gen")
    fresh, current = _files(tmp_path / "gen"), _files(GEN)
    stale = sorted(k for k in fresh.keys() | current.keys() if fresh.get(k) != current.get(k))
    assert not stale, f"gen/ is stale for {stale}: run `make install` (scripts/gen_protos.py)"
    assert not filecmp.dircmp(tmp_path / "gen", GEN).diff_files


def test_protos_pass_buf_lint() -> None:
    buf = Path(__import__("sys").executable).parent / "buf"
    result = subprocess.run([str(buf), "lint"], cwd=PROTOS, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
