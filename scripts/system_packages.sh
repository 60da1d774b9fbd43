#!/usr/bin/env bash
# The Debian packages the tests need, installed where this user may (root, or sudo without a
# password): PostgreSQL's server (the stores are tested on PostgreSQL too; docker mode uses a
# container instead) and Chromium (the Temporal UI test drives it headless). Where they cannot
# be installed, the PostgreSQL tests fail saying so and the UI test is skipped with its reason
# (CI sets DP_REQUIRE_BROWSER=1, which makes that skip a failure).
set -euo pipefail
missing=()
if [ "${DP_TEST_INFRA:-}" != docker ] && ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 \
    && ! command -v initdb > /dev/null; then
  missing+=(postgresql)
fi
if ! command -v chromium > /dev/null && ! command -v chromium-browser > /dev/null; then
  missing+=(chromium)
fi
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
if [ -n "$sudo" ] && ! $sudo true 2> /dev/null; then
  echo "== not root: cannot install ${missing[*]} (the tests that need them will say so)" >&2
  exit 0
fi
echo "== installing ${missing[*]} (Debian packages the tests use)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
