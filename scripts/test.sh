#!/usr/bin/env bash
# Every check and every test: lint, format, types, proto lint, then unit + integration tests on
# real servers (Temporal dev server, MinIO; containers when a Docker engine answers).
set -euo pipefail
cd "$(dirname "$0")/.."
# DP_SKIP_BOOTSTRAP=1: the caller bootstrapped already (CI, before its two passes run side by side:
# a second bootstrap would regenerate code the other pass is importing).
[ -n "${DP_SKIP_BOOTSTRAP:-}" ] || ./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

# Debian packages the tests use: PostgreSQL's server (local mode) and Chromium.
./scripts/system_packages.sh

# Docker mode: an engine that answers (started here where possible), and the images built from
# the package registries (cached by content; DP_*_IMAGE names official ones instead).
# Unset, docker mode is what the harness picks when an engine answers: prepare for it too.
if [ -z "${DP_TEST_INFRA:-}" ] && docker info > /dev/null 2>&1; then
  export DP_TEST_INFRA=docker
fi
if [ "${DP_TEST_INFRA:-}" = docker ]; then
  ./scripts/docker_engine.sh
  echo "== images"; python -m deploy.images temporal-dev minio postgres
  export TESTCONTAINERS_RYUK_DISABLED=true  # its reaper image would come from a registry
fi

# DP_SKIP_LINT=1: tests only (CI's second pass, after a full `make test` has linted the tree).
if [ -z "${DP_SKIP_LINT:-}" ]; then
  echo "== ruff";  ruff check . && ruff format --check .
  echo "== mypy";  mypy .
  echo "== buf lint"; (cd protos && buf lint)
fi
echo "== S3 server binary"; python -m deploy.binaries
echo "== pytest"; python -m pytest -p no:cacheprovider "$@"
