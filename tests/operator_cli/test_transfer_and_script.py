"""The upload stream and the console-script wrappers, without a server: what the progress bar
counts is every byte of the file, in order, after the metadata; bootstrap's wrapper runs."""

from __future__ import annotations

import hashlib
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest
from evidence.v1 import evidence_pb2

from operator_cli.transfer import CHUNK_BYTES, FileRead, Meter, sha256_of
from scripts import deps

ROOT = Path(__file__).resolve().parents[2]


def test_the_stream_is_the_metadata_then_every_byte_and_the_count_reaches_the_size(tmp_path: Path) -> None:
    size = 3 * CHUNK_BYTES + 12_345
    data = os.urandom(size)
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    seen: list[int] = []
    meter = Meter(seen.append)
    meta = evidence_pb2.UploadMetadata(filename="clip.bin", size_bytes=size)
    messages = list(FileRead(meta, path, meter))
    assert messages[0].WhichOneof("payload") == "metadata"
    chunks = [m.chunk for m in messages[1:]]
    assert all(m.WhichOneof("payload") == "chunk" for m in messages[1:])
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= CHUNK_BYTES  # the API's chunk limit
    assert meter.total == sum(seen) == size and len(seen) == len(chunks)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


def test_the_count_never_runs_ahead_of_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "two.bin"
    path.write_bytes(b"x" * (CHUNK_BYTES + 1))
    meter = Meter()
    stream = iter(FileRead(evidence_pb2.UploadMetadata(), path, meter))
    next(stream), next(stream)
    assert meter.total == 0  # the first chunk handed over, not yet taken
    next(stream)
    assert meter.total == CHUNK_BYTES
    assert list(stream) == [] and meter.total == CHUNK_BYTES + 1


def test_a_file_that_fails_to_read_keeps_its_error(tmp_path: Path) -> None:
    """gRPC reports a request stream that raised as UNKNOWN: the error is kept for dpctl to say."""
    path = tmp_path / "gone.bin"
    path.write_bytes(b"x")
    read = FileRead(evidence_pb2.UploadMetadata(), path, Meter())
    stream = iter(read)
    next(stream)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        next(stream)
    assert isinstance(read.error, FileNotFoundError) and read.error.filename == str(path)


def test_bootstrap_writes_a_working_wrapper_and_removes_a_dropped_one(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = []\n[project.scripts]\n'
        'dpctl = "operator_cli.app:main"\nold = "operator_cli.app:main"\n'
    )
    deps.install_scripts(bin_dir, pyproject, Path(sys.executable))
    (bin_dir / "unrelated").write_text("#!/bin/sh\n")
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = []\n[project.scripts]\ndpctl = "operator_cli.app:main"\n'
    )
    deps.install_scripts(bin_dir, pyproject, Path(sys.executable))
    assert sorted(p.name for p in bin_dir.iterdir()) == ["dpctl", "unrelated"]
    assert os.access(bin_dir / "dpctl", os.X_OK)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}"}
    shown = subprocess.run(
        [bin_dir / "dpctl", "--help"], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "operator console" in shown.stdout
    assert (bin_dir / "dpctl").read_text().startswith(f"#!{sys.executable}\n")


def test_a_wrapper_runs_from_a_path_with_spaces_and_a_relative_bin_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel splits a #! line at its first space: such an interpreter goes through /bin/sh."""
    home = tmp_path / "my venv $HOME `x`"
    home.mkdir()
    (home / "python").symlink_to(sys.executable)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[project.scripts]\ndpctl = "operator_cli.app:main"\n')
    monkeypatch.chdir(tmp_path)
    (script,) = deps.install_scripts(Path(home.name), pyproject)
    assert script.read_text().startswith("#!/bin/sh\n")
    # A bare interpreter outside the virtualenv: the libraries come by path.
    env = {**os.environ, "PYTHONPATH": ":".join([str(ROOT), str(ROOT / "gen"), *site.getsitepackages()])}
    monkeypatch.chdir("/")  # the interpreter's path was made absolute
    shown = subprocess.run(
        [home / "dpctl", "--help"], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "operator console" in shown.stdout


def test_the_projects_own_scripts_are_declared_and_an_entry_that_is_not_code_is_refused(
    tmp_path: Path,
) -> None:
    assert deps.console_scripts() == {"dpctl": "operator_cli.app:main"}
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\nname = "x"\n[project.scripts]\nx = "os; import evil:main"\n')
    with pytest.raises(SystemExit, match="not name = 'module:function'"):
        deps.console_scripts(bad)
