#!/bin/sh
# One-shot (temporalio/admin-tools): creates Temporal's two PostgreSQL databases and brings their
# schemas to the version the server image expects. Safe to run on every `docker compose up`:
# `create` fails harmlessly when the database exists, and update-schema only applies what is new.
set -eu
: "${POSTGRES_SEEDS:=postgresql}" "${DB_PORT:=5432}" "${POSTGRES_USER:=temporal}"
export SQL_PASSWORD="${POSTGRES_PWD:-temporal}"
SCHEMA=/etc/temporal/schema/postgresql/v12

until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"; sleep 2; done

for pair in temporal:temporal temporal_visibility:visibility; do
    db="${pair%%:*}"
    dir="${pair##*:}"
    tool="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $DB_PORT -u $POSTGRES_USER --db $db"
    $tool create 2>/dev/null || echo "database $db exists"
    $tool setup-schema -v 0.0 2>/dev/null || echo "schema of $db was set up before"
    $tool update-schema -d "$SCHEMA/$dir/versioned"
done
echo "Temporal schemas are up to date"
