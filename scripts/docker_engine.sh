#!/usr/bin/env bash
# Make sure a Docker engine answers, for docker mode (DP_TEST_INFRA=docker) and `make images`.
# Where none runs and this user is root, install Debian's docker.io (and debootstrap, which the
# image builds use) when missing and start dockerd in the background; otherwise say exactly what
# is missing and fail. Never falls back to local mode.
set -euo pipefail
cache="${DP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dispute-platform}"
mkdir -p "$cache"

answers() { docker info > /dev/null 2>&1; }

if [ "$(id -u)" -eq 0 ] && { ! command -v dockerd > /dev/null || ! command -v debootstrap > /dev/null \
    || ! command -v docker > /dev/null; }; then
  echo "== installing Debian's docker.io and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap > /dev/null
fi
if ! command -v docker > /dev/null; then
  echo "docker mode needs the docker CLI and an engine: install Debian's docker.io (as root), or run with DP_TEST_INFRA=local" >&2
  exit 1
fi
if answers; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "no Docker engine answers (docker info failed) and only root can start one here: start dockerd, add this user to the docker group, or run with DP_TEST_INFRA=local" >&2
  exit 1
fi
# A dockerd killed with the session that started it leaves its pid file behind.
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2> /dev/null; then
  rm -f "$pidfile"
fi
echo "== starting dockerd (log: $cache/dockerd.log)"
nohup dockerd > "$cache/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
  if answers; then
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 30 s; its log:" >&2
tail -20 "$cache/dockerd.log" >&2
exit 1
