#!/bin/sh
# Entry point of the demo backend and frontend: nginx on 127.0.0.1:$PORT sends
# /api/health to the busybox httpd CGI on 127.0.0.1:$CGI_PORT.
set -eu

# A restart clears the faults switched on in /tmp/faults, as restarting a real
# service clears a fault held in its memory; restart-service relies on it.
rm -rf /tmp/faults
mkdir -p /tmp/faults /tmp/nginx /tmp/www/cgi-bin
cp /app/health.cgi /tmp/www/cgi-bin/health
sed -e "s/@PORT@/$PORT/g" -e "s/@CGI_PORT@/$CGI_PORT/g" /app/nginx-app.conf \
    > /tmp/nginx/nginx.conf

log() {
    printf '%s %s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$SERVICE_NAME" "$2"
}

# RESTART_AFTER makes the main process exit with status 1, so the restart
# policy starts the container again and its restart count grows.
if [ -n "${RESTART_AFTER:-}" ]; then
    log INFO "starting, will exit after ${RESTART_AFTER}s"
    sleep "$RESTART_AFTER"
    log WARNING "exiting with status 1 to be restarted"
    exit 1
fi

log INFO "starting version $(cat /VERSION) on 127.0.0.1:$PORT"
httpd -f -p "127.0.0.1:$CGI_PORT" -h /tmp/www &

heartbeat() {
    tick=0
    while :; do
        sleep 5
        tick=$((tick + 1))
        log INFO "worker heartbeat: $((tick % 4)) jobs queued"
        if [ $((tick % 6)) -eq 0 ]; then
            log WARNING "slow request GET /api/tasks took 812ms (threshold 500ms)"
        fi
        if [ -e /tmp/faults/log-errors ]; then
            log ERROR "request GET /api/tasks failed: database query error"
            echo 'Traceback (most recent call last):'
            echo '  File "/app/tasks/views.py", line 42, in list_tasks'
            echo '    rows = session.execute(query).all()'
            echo 'sqlalchemy.exc.OperationalError: connection to server was lost'
        fi
    done
}
heartbeat &

exec nginx -p /tmp/nginx -c /tmp/nginx/nginx.conf -g 'daemon off;'
