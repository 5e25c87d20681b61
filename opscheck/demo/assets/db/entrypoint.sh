#!/bin/sh
# Entry point of the demo database: initialise the cluster on first start, then
# run PostgreSQL on 127.0.0.1:$PGPORT with password authentication over TCP.
set -eu

PGDATA=/var/lib/postgresql/data
SOCKET_DIR=/var/run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 > /tmp/initdb.log

    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k $SOCKET_DIR" \
        -l /tmp/setup.log start > /dev/null
    psql -v ON_ERROR_STOP=1 -q -U postgres -d postgres \
        -v user="$POSTGRES_USER" -v password="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"user" LOGIN CREATEDB PASSWORD :'password';
GRANT pg_read_all_stats TO :"user";
CREATE DATABASE :"db" OWNER :"user";
SQL
    psql -v ON_ERROR_STOP=1 -q -U postgres -d "$POSTGRES_DB" \
        -c 'CREATE EXTENSION pg_stat_statements'
    psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f /app/seed.sql
    # The seeding statements are slow, and pg_stat_statements keeps them across the
    # restart below, so a fresh stack would start with slow queries.
    psql -v ON_ERROR_STOP=1 -q -U postgres -d "$POSTGRES_DB" \
        -c 'SELECT pg_stat_statements_reset()' > /dev/null
    pg_ctl -D "$PGDATA" -w -m fast stop > /dev/null
    echo "database $POSTGRES_DB initialised"
fi

exec postgres -D "$PGDATA" -p "$PGPORT" -k "$SOCKET_DIR" \
    -c listen_addresses=127.0.0.1 \
    -c shared_preload_libraries=pg_stat_statements \
    -c pg_stat_statements.track=all \
    -c log_min_duration_statement=1000
