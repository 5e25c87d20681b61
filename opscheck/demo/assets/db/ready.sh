#!/bin/sh
# Health probe of the demo database: ready once the real server, not the set-up
# server of the entry point, has finished starting and accepts connections on its socket.
# It reads postmaster.pid before connecting, so it never connects to a server that
# is still starting (which would log "the database system is starting up").
# postmaster.pid: line 5 is the socket folder, line 8 the status.
set -eu
pid_file=/var/lib/postgresql/data/postmaster.pid
socket_dir=/var/run/postgresql

[ "$(sed -n 5p "$pid_file" 2>/dev/null)" = "$socket_dir" ] || exit 1
sed -n 8p "$pid_file" | grep -q '^ready' || exit 1
exec pg_isready -q -h "$socket_dir" -p "$PGPORT" -U "$POSTGRES_USER" -d "$POSTGRES_DB"
