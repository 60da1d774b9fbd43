"""How each image of `make images` is built (deploy/images.py decides which and when): Debian
rootfs images from debootstrap, FROM-scratch images of static binaries, the Temporal server and
the compose plugin built from their Go modules, and the platform on a local wheelhouse.

Every function here builds one thing from the package registries only (PyPI, the Go module
proxy, the Debian archive); none of them needs an image registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from deploy.binaries import build_minio, cache_dir, minio_cached, temporal_cli

ROOT = Path(__file__).resolve().parents[1]
SUITE = "bookworm"
MIRROR = os.environ.get("DP_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("DP_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tzdata")
POSTGRES_PACKAGES = ("postgresql-15",)
TEMPORAL_SERVER_VERSION = "v1.32.2"
# go.temporal.io/server v1.32 needs a newer Go than the machines have; the proxy serves this one.
GO_TOOLCHAIN = "go1.27.3"
COMPOSE_VERSION = "v2.40.3"
UID = "10001"


def sh(
    *cmd: str, stdin: bytes | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    print("+", " ".join(cmd)[:200], file=sys.stderr)
    subprocess.run(list(cmd), input=stdin, cwd=cwd, env=env, check=True)


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(paths: Iterable[Path]) -> str:
    """Every file under `paths` (sorted, with its relative name), bytecode and caches left out."""
    h = hashlib.sha256()
    for top in paths:
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for p in files:
            if "__pycache__" in p.parts or p.suffix == ".pyc":
                continue
            h.update(str(p.relative_to(ROOT)).encode() + b"\0" + file_hash(p).encode())
    return h.hexdigest()


# --- rootfs images ---------------------------------------------------------------------------


def _debootstrap(tag: str, packages: Iterable[str]) -> None:
    """A minimal Debian rootfs with `packages`, imported as `tag`."""
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        sh(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            str(rootfs),
            MIRROR,
        )
        _security_updates(rootfs)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (rootfs / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        sh(
            "docker",
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8",
            "-",
            tag,
            stdin=tar,
        )


def _security_updates(rootfs: Path) -> None:
    """debootstrap installs the release as it shipped: add the updates and security suites (as
    Debian's own images list them) and upgrade to their packages."""
    sources = rootfs / "etc" / "apt" / "sources.list.d" / "debian.sources"
    sources.write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {SECURITY_MIRROR}\nSuites: {SUITE}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    (rootfs / "etc" / "apt" / "sources.list").unlink(missing_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    sh("chroot", str(rootfs), "apt-get", "update", "-qq", env=env)
    sh("chroot", str(rootfs), "apt-get", "upgrade", "-y", "-qq", env=env)
    sh("chroot", str(rootfs), "apt-get", "clean", env=env)


def build_base(tag: str) -> None:
    _debootstrap(tag, BASE_PACKAGES)


def build_postgres(tag: str) -> None:
    """PostgreSQL 15 from Debian, as the official image is used: POSTGRES_USER, POSTGRES_PASSWORD
    and POSTGRES_DB make the cluster at first start (deploy/postgres-entrypoint.sh)."""
    raw = f"{tag}-rootfs"
    _debootstrap(raw, ("ca-certificates", "tzdata", *POSTGRES_PACKAGES))
    _docker_build(
        tag,
        f"""FROM {raw}
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
# A fast shutdown (the official image's): SIGTERM would wait for every client to leave.
STOPSIGNAL SIGINT
RUN chmod 0755 /usr/local/bin/postgres-entrypoint.sh \\
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \\
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
""",
        {"postgres-entrypoint.sh": ROOT / "deploy" / "postgres-entrypoint.sh"},
    )
    subprocess.run(["docker", "image", "rm", raw], check=False, capture_output=True)


# --- images of static binaries ---------------------------------------------------------------


def _docker_build(
    tag: str, dockerfile: str, files: dict[str, Path], build_args: dict[str, str] | None = None
) -> None:
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(dockerfile)
        (ctx / "tmp").mkdir()
        (ctx / "tmp" / ".keep").write_text("")
        for name, src in files.items():
            dest = ctx / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest)
            else:
                shutil.copy2(src, dest)
        args = [a for k, v in (build_args or {}).items() for a in ("--build-arg", f"{k}={v}")]
        sh("docker", "build", "-q", "-t", tag, *args, str(ctx))


def _static(tag: str, binary: Path, name: str, cmd: list[str], ports: list[int]) -> None:
    """A FROM-scratch image of one static binary, run as an unprivileged user."""
    _docker_build(
        tag,
        f"""FROM scratch
COPY bin /usr/local/bin/{name}
COPY tmp/ /tmp/
ENV USER=app HOME=/tmp PATH=/usr/local/bin
USER {UID}:{UID}
EXPOSE {" ".join(str(p) for p in ports)}
ENTRYPOINT ["/usr/local/bin/{name}"]
CMD {json.dumps(cmd)}
""",
        {"bin": binary},
    )


def build_temporal_dev(tag: str) -> None:
    _static(tag, Path(temporal_cli()), "temporal", ["server", "start-dev", "--ip", "0.0.0.0"], [7233, 8233])


def minio_binary() -> Path:
    return minio_cached() if minio_cached().exists() else build_minio()


def build_minio_image(tag: str, base: str) -> None:
    """MinIO on the base (not FROM scratch): compose's health check needs a shell and Python."""
    _docker_build(
        tag,
        f"""FROM {base}
COPY bin /usr/local/bin/minio
RUN groupadd --system --gid {UID} app \\
 && useradd --system --uid {UID} --gid app --home-dir /tmp --no-create-home app \\
 && install -d -o {UID} -g {UID} /data
ENV HOME=/tmp
USER {UID}:{UID}
EXPOSE 9000 9001
ENTRYPOINT ["/usr/local/bin/minio"]
CMD ["server", "/data"]
""",
        {"bin": minio_binary()},
    )


def _need_go() -> None:
    if shutil.which("go") is None:
        raise SystemExit(
            "building the Temporal server and the compose plugin needs Go (the Go toolchain is on the machine's PATH on a fresh machine; install it)"
        )


def temporal_server_binaries() -> Path:
    """temporal-server and temporal-sql-tool at TEMPORAL_SERVER_VERSION, built once per machine
    into the cache (a few minutes of Go on 2 cores)."""
    out = cache_dir() / f"temporal-server-{TEMPORAL_SERVER_VERSION}"
    if (out / "temporal-server").exists() and (out / "temporal-sql-tool").exists():
        return out
    _need_go()
    src = cache_dir() / "src" / f"temporal-server-{TEMPORAL_SERVER_VERSION}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text("module dispute-platform/temporalbuild\n\ngo 1.26\n")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": GO_TOOLCHAIN, "CGO_ENABLED": "0"}
    sh("go", "get", f"go.temporal.io/server@{TEMPORAL_SERVER_VERSION}", cwd=src, env=env)
    out.mkdir(parents=True, exist_ok=True)
    for binary, package in (("temporal-server", "cmd/server"), ("temporal-sql-tool", "cmd/tools/sql")):
        sh("go", "build", "-o", str(out / binary), f"go.temporal.io/server/{package}", cwd=src, env=env)
    return out


def build_temporal_server(tag: str, base: str) -> None:
    """The server and its schema tool on the base (the schema files come from the module)."""
    bins = temporal_server_binaries()
    module = _module_dir()
    _docker_build(
        tag,
        f"""FROM {base}
COPY temporal-server temporal-sql-tool temporal /usr/local/bin/
COPY schema/ /etc/temporal/schema/
COPY dynamicconfig/ /etc/temporal/config/dynamicconfig/
COPY temporal-entrypoint.sh /usr/local/bin/temporal-entrypoint.sh
RUN chmod 0755 /usr/local/bin/temporal-entrypoint.sh \\
 && groupadd --system --gid {UID} app \\
 && useradd --system --uid {UID} --gid app --home-dir /etc/temporal --no-create-home app \\
 && chmod -R a+rX /etc/temporal
WORKDIR /etc/temporal
USER {UID}:{UID}
EXPOSE 7233 7234 7235 7239
ENTRYPOINT ["/usr/local/bin/temporal-entrypoint.sh"]
""",
        {
            "temporal-server": bins / "temporal-server",
            "temporal-sql-tool": bins / "temporal-sql-tool",
            # The CLI as the admin tool: namespaces and search attributes (compose's setup job).
            "temporal": Path(temporal_cli()),
            "schema": module / "schema",
            "dynamicconfig": module / "config" / "dynamicconfig",
            "temporal-entrypoint.sh": ROOT / "deploy" / "temporal-entrypoint.sh",
        },
    )


def _module_dir() -> Path:
    src = cache_dir() / "src" / f"temporal-server-{TEMPORAL_SERVER_VERSION}"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": GO_TOOLCHAIN}
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


# --- the platform ----------------------------------------------------------------------------


def requirements() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = project["dependencies"] + project["optional-dependencies"]["postgres"]
    codegen = [
        r
        for r in project["optional-dependencies"]["dev"]
        if r.split("==")[0] in ("grpcio-tools", "mypy-protobuf")
    ]
    return [*runtime, *codegen]


def wheelhouse_key() -> str:
    """The requirements and the interpreter that fills the wheelhouse: its wheels are for this
    machine's Python and platform, which must match the base's (CPython 3.11 on glibc, as
    Debian bookworm's is)."""
    import platform

    host = f"{sys.implementation.name}{sys.version_info[:2]} {platform.machine()} {platform.libc_ver()}"
    return hashlib.sha256("\n".join([host, *requirements()]).encode()).hexdigest()[:16]


def wheelhouse() -> Path:
    """Every Python package the platform image installs, as wheels for its Python (3.11)."""
    out = cache_dir() / "wheels" / wheelhouse_key()
    if (out / ".complete").exists():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(partial), *requirements())
    (partial / ".complete").write_text("\n".join(requirements()))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


PLATFORM_FILES = (
    "pyproject.toml",
    "protos",
    "scripts",
    "platform_common",
    "order_svc",
    "dispute_svc",
    "evidence_svc",
    "refund_svc",
    "workers",
    "deploy/Dockerfile",
)


def build_platform(tag: str, base: str) -> None:
    files = {p: ROOT / p for p in PLATFORM_FILES if p != "deploy/Dockerfile"}
    files["wheels"] = wheelhouse()
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    _docker_build(tag, dockerfile, files, {"BASE": base, "PIP_OFFLINE": "1"})


# --- the compose client ----------------------------------------------------------------------


def ensure_compose() -> None:
    """`docker compose`: the CLI plugin built from its Go module at COMPOSE_VERSION (once per
    machine, into the cache) when the docker CLI has none."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return
    binary = cache_dir() / "bin" / f"docker-compose-{COMPOSE_VERSION}"
    if not binary.exists():
        _need_go()
        src = cache_dir() / "src" / f"compose-{COMPOSE_VERSION}"
        src.mkdir(parents=True, exist_ok=True)
        (src / "go.mod").write_text("module dispute-platform/composebuild\n\ngo 1.26\n")
        env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": GO_TOOLCHAIN, "CGO_ENABLED": "0"}
        sh("go", "get", f"github.com/docker/compose/v2@{COMPOSE_VERSION}", cwd=src, env=env)
        sh("go", "build", "-o", str(binary), "github.com/docker/compose/v2/cmd", cwd=src, env=env)
    plugins = Path.home() / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, plugins / "docker-compose")
