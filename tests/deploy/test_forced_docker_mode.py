"""Forcing docker mode where it cannot work fails loudly, with what is missing, and never falls
back to local processes.

`scripts/docker_engine.sh` is run for real as an unprivileged user (root would install and start
an engine instead), on a PATH that lacks the docker CLI, or whose `docker` cannot reach an
engine. The harness is run for real too: pytest with DP_TEST_INFRA=docker and DOCKER_HOST at a
socket nobody listens on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "docker_engine.sh"
NOBODY = 65534
# What the script needs before it looks for docker; everything else is left off PATH.
TOOLS = ("id", "mkdir")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory the unprivileged user can enter (pytest's own tmp_path is root's alone)."""
    made = Path(tempfile.mkdtemp(prefix="dp-forced-docker-"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def tool_dir(tmp_path: Path, docker: str | None) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is not installed"
        (bin_dir / tool).symlink_to(found)
    if docker is not None:
        fake = bin_dir / "docker"
        fake.write_text(docker)
        fake.chmod(0o755)
    bin_dir.chmod(0o755)
    return bin_dir


def run_unprivileged(tmp_path: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    script = tmp_path / SCRIPT.name  # the checkout itself may be closed to that user
    shutil.copy(SCRIPT, script)
    script.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "DP_CACHE_DIR": str(cache)}
    command = ["/bin/bash", str(script)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to run the script as an unprivileged user"
        command = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=30)


def test_without_the_docker_cli_the_script_says_what_to_install(open_dir: Path) -> None:
    done = run_unprivileged(open_dir, tool_dir(open_dir, docker=None))
    assert done.returncode == 1, done
    assert "needs the docker CLI" in done.stderr
    assert "docker.io" in done.stderr and "DP_TEST_INFRA=local" in done.stderr


def test_without_an_engine_a_user_who_is_not_root_is_told_how_to_get_one(open_dir: Path) -> None:
    # A docker CLI whose engine is not there: `docker info` fails as the real one does.
    unreachable = "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n"
    done = run_unprivileged(open_dir, tool_dir(open_dir, docker=unreachable))
    assert done.returncode == 1, done
    assert "no Docker engine answers" in done.stderr
    assert "only root can start one" in done.stderr and "DP_TEST_INFRA=local" in done.stderr


def test_the_harness_forced_to_docker_without_an_engine_stops_before_any_test() -> None:
    env = {
        **os.environ,
        "DP_TEST_INFRA": "docker",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_disputes.py",
        ],
        cwd=ROOT,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "no Docker engine answers a ping at unix:///nonexistent/docker.sock" in done.stderr
    assert "never falls back" in done.stderr
    assert "passed" not in done.stdout
