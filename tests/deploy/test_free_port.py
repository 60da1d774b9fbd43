"""Ports picked for test stacks never collide: not within one stack, not between two suites
running side by side. Before picks were held, a stack's ~20 picks from 12,000 ports repeated
one now and then, and the later process failed to bind."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from deploy.processes import free_port

_PICKS = 300  # without holds, two sets of 300 from 12,000 ports overlap almost surely


@pytest.fixture(autouse=True)
def own_marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Marks of their own: the test's hundreds of picks do not hold ports from real stacks."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def test_picks_in_one_process_are_all_different() -> None:
    picks = [free_port() for _ in range(_PICKS)]
    assert len(set(picks)) == _PICKS


def test_a_second_process_never_picks_a_port_this_one_holds() -> None:
    mine = {free_port() for _ in range(_PICKS)}
    code = f"import json; from deploy.processes import free_port; print(json.dumps([free_port() for _ in range({_PICKS})]))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    theirs = set(json.loads(out.stdout))
    assert len(theirs) == _PICKS
    assert not mine & theirs


def test_without_a_place_for_marks_picks_still_never_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", "/proc/no-such-place")
    picks = [free_port() for _ in range(50)]
    assert len(set(picks)) == 50
