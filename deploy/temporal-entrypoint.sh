#!/bin/sh
# The Temporal server (not the dev server) on PostgreSQL, configured from the environment by the
# server's own embedded template: DB=postgres12, POSTGRES_SEEDS, DB_PORT, POSTGRES_USER,
# POSTGRES_PWD, DBNAME (temporal), VISIBILITY_DBNAME (temporal_visibility).
#
#   temporal-entrypoint.sh setup-schema   create both databases if missing and bring their
#                                         schemas to this server's version (idempotent; run it
#                                         once, before the servers, e.g. as a one-shot job)
#   temporal-entrypoint.sh [start]        run every service of the server in this process
set -eu
: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS (the PostgreSQL host)}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PWD:?set POSTGRES_PWD}"
export DB="${DB:-postgres12}" DB_PORT="${DB_PORT:-5432}"
export DBNAME="${DBNAME:-temporal}" VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
schema=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" \
    --pw "$POSTGRES_PWD" "$@"
}

case "${1:-start}" in
  setup-schema)
    for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
      db="${pair%%:*}" dir="${pair##*:}"
      # Until PostgreSQL answers (a compose start), then create (an existing one is fine).
      tries=0
      until sql --db "$db" create-database 2>/tmp/create.err || grep -q "already exists" /tmp/create.err; do
        tries=$((tries + 1))
        [ "$tries" -lt 60 ] || { cat /tmp/create.err >&2; exit 1; }
        sleep 1
      done
      sql --db "$db" setup-schema -v 0.0
      sql --db "$db" update-schema -d "$schema/$dir/versioned"
    done
    ;;
  start)
    # Bind to this container's address and announce it to the other members of the cluster.
    : "${BIND_ON_IP:=$(hostname -i | awk '{print $1}')}"
    : "${TEMPORAL_BROADCAST_ADDRESS:=$BIND_ON_IP}"
    export BIND_ON_IP TEMPORAL_BROADCAST_ADDRESS
    exec temporal-server --allow-no-auth start
    ;;
  *)
    exec "$@"
    ;;
esac
