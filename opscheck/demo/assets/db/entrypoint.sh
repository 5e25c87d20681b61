#!/bin/sh
# Entry point of the demo database.
#
# Every start first runs a set-up server that listens on a private socket only, as
# the official postgres image does for its initialisation. It finishes any crash
# recovery, creates and seeds the database when the cluster has none, and sets the
# role's password from the environment. The cluster lives in a named volume that
# outlives the containers, so it must take the password of the current .env. No
# client can reach the set-up server, so the container log never shows a client
# that connected while the server was starting or held an old password.
# Then the real server runs on 127.0.0.1:$PGPORT with pg_stat_statements preloaded.
set -eu

PGDATA=/var/lib/postgresql/data
SOCKET_DIR=/var/run/postgresql
SETUP_SOCKET_DIR=/tmp/setup-socket

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    # The image has no locales, so initdb warns about them: its output goes to a
    # file and is shown only when it fails.
    initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 > /tmp/initdb.log 2>&1 ||
        { cat /tmp/initdb.log >&2; exit 1; }
fi

mkdir -p "$SETUP_SOCKET_DIR"
pg_ctl -D "$PGDATA" -w -t 300 -l /tmp/setup.log \
    -o "-c listen_addresses='' -k $SETUP_SOCKET_DIR" start > /dev/null

# NOTICEs (role already a member, extension exists) are not worth a log line.
export PGHOST="$SETUP_SOCKET_DIR" PGOPTIONS="-c client_min_messages=warning"
setup_sql() {
    psql -X -v ON_ERROR_STOP=1 -q -U postgres -v user="$POSTGRES_USER" \
        -v password="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" "$@"
}

setup_sql -d postgres <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" PASSWORD :'password';
GRANT pg_read_all_stats TO :"user";
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL

# The set-up server runs without pg_stat_statements, so the slow seeding statements
# are not counted. Creating the extension needs no preload, but querying it does.
setup_sql -d "$POSTGRES_DB" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
seeded=$(setup_sql -d "$POSTGRES_DB" -A -t \
    -c "SELECT to_regclass('public.comments') IS NOT NULL")
if [ "$seeded" != t ]; then
    # One transaction, so a start that is killed half-way seeds again next time.
    psql -X -v ON_ERROR_STOP=1 -q -1 -U "$POSTGRES_USER" \
        -d "$POSTGRES_DB" -f /app/seed.sql
    echo "database $POSTGRES_DB seeded"
fi

pg_ctl -D "$PGDATA" -w -t 300 -m fast stop > /dev/null
unset PGHOST PGOPTIONS

exec postgres -D "$PGDATA" -p "$PGPORT" -k "$SOCKET_DIR" \
    -c listen_addresses=127.0.0.1 \
    -c shared_preload_libraries=pg_stat_statements \
    -c pg_stat_statements.track=all \
    -c log_min_duration_statement=1000
