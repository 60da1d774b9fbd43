#!/usr/bin/env bash
# Every check and every test: lint, format, types, proto lint, then unit + integration tests on
# real servers (Temporal dev server, MinIO; containers when a Docker engine answers).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff";  ruff check . && ruff format --check .
echo "== mypy";  mypy .
echo "== buf lint"; (cd protos && buf lint)
echo "== S3 server binary"; python -m deploy.binaries
echo "== pytest"; python -m pytest -p no:cacheprovider "$@"
