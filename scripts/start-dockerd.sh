#!/usr/bin/env bash
# Start the host's Docker engine on unix:///var/run/docker.sock, in the background, and
# wait until `docker info` succeeds.
#
# The engine creates no bridge network and changes no iptables rules, so a container
# gets no address of its own: it runs with host networking (or none). Its log goes to
# $OPSCHECK_DOCKERD_LOG (default /var/log/opscheck-dockerd.log). Waits at most
# $OPSCHECK_DOCKERD_TIMEOUT seconds (default 30).
#
# With $OPSCHECK_DOCKERD_ROOT set to a folder, a separate engine starts with its socket,
# pidfile, data root and exec root in that folder, beside the host's engine.
set -euo pipefail

root="${OPSCHECK_DOCKERD_ROOT:-}"
if [[ -n "$root" ]]; then
    mkdir -p "$root"
    socket="$root/docker.sock"
    pidfile="$root/docker.pid"
    root_flags=(--data-root "$root/data" --exec-root "$root/exec")
else
    socket=/var/run/docker.sock
    pidfile=/var/run/docker.pid
    root_flags=()
fi
log_file="${OPSCHECK_DOCKERD_LOG:-/var/log/opscheck-dockerd.log}"
timeout_s="${OPSCHECK_DOCKERD_TIMEOUT:-30}"

engine_responds() {
    timeout 5 docker -H "unix://$socket" info >/dev/null 2>&1
}

if engine_responds; then
    echo "start-dockerd: Docker engine already responds on $socket"
    exit 0
fi
if ((EUID != 0)); then
    echo "start-dockerd: dockerd must run as root; run this script as root" >&2
    exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "start-dockerd: dockerd not found; run scripts/setup.sh (apt-get install docker.io)" >&2
    exit 1
fi

# A pidfile whose process is gone, or is no longer a dockerd, is left from a daemon that
# died. dockerd does not start while its pidfile names a live process, so remove it.
pid=""
if [[ -f "$pidfile" ]]; then
    old_pid="$(tr -dc '0-9' <"$pidfile")"
    if [[ -n "$old_pid" && "$(cat "/proc/$old_pid/comm" 2>/dev/null)" == dockerd ]]; then
        echo "start-dockerd: dockerd $old_pid is running but does not respond yet; waiting"
        pid="$old_pid"
    else
        echo "start-dockerd: removing stale pidfile $pidfile (pid '${old_pid}' is not a dockerd)"
        rm -f "$pidfile"
    fi
fi

if [[ -z "$pid" ]]; then
    mkdir -p "$(dirname "$log_file")"
    echo "==== start-dockerd.sh ($(date -u +%Y-%m-%dT%H:%M:%SZ))" >>"$log_file"
    setsid dockerd \
        -H "unix://$socket" \
        --pidfile "$pidfile" \
        "${root_flags[@]}" \
        --bridge=none \
        --iptables=false \
        --ip-masq=false \
        --ip6tables=false \
        </dev/null >>"$log_file" 2>&1 &
    pid=$!
fi

deadline=$((SECONDS + timeout_s))
until engine_responds; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start-dockerd: dockerd exited before it responded; last lines of $log_file:" >&2
        tail -n 30 "$log_file" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "start-dockerd: dockerd (pid $pid) did not respond on $socket within ${timeout_s} s;" \
            "see $log_file" >&2
        tail -n 30 "$log_file" >&2
        exit 1
    fi
    sleep 0.2
done
echo "start-dockerd: Docker engine started (pid $pid, log $log_file)"
