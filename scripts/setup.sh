#!/usr/bin/env bash
# Install and start what opscheck, its demo and its tests need on a Debian 12 host:
# the Docker engine, docker-compose, busybox-static, PostgreSQL 15 and nginx, then a
# virtualenv in the repository with opscheck installed from the source tree.
#
# Usage: scripts/setup.sh [--dev]
#   --dev   also install the development tools (the "dev" extra: mypy, ruff, ...)
#
# Runs as root, from any folder, and may be run again: each step is skipped when its
# result is already there, except the pip install, which refreshes opscheck from the
# working tree. One line per step goes to stdout, the details to $OPSCHECK_SETUP_LOG
# (default /var/log/opscheck-setup.log).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log_file="${OPSCHECK_SETUP_LOG:-/var/log/opscheck-setup.log}"
dev=0

for arg in "$@"; do
    case "$arg" in
        --dev) dev=1 ;;
        -h | --help)
            sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup: unknown argument '$arg'; usage: scripts/setup.sh [--dev]" >&2
            exit 2
            ;;
    esac
done

mkdir -p "$(dirname "$log_file")"
echo "==== setup.sh $* ($(date -u +%Y-%m-%dT%H:%M:%SZ))" >>"$log_file"

# Run one step with its output in the log; on failure show the log's tail and stop.
run_logged() {
    local description="$1"
    shift
    echo "---- $description: $*" >>"$log_file"
    if ! "$@" </dev/null >>"$log_file" 2>&1; then
        echo "setup: $description failed; last lines of $log_file:" >&2
        tail -n 40 "$log_file" >&2
        exit 1
    fi
}

# Package that provides each binary the stack needs.
declare -A package_of=(
    [/usr/sbin/dockerd]=docker.io
    [/usr/bin/docker-compose]=docker-compose
    [/usr/bin/busybox]=busybox-static
    [/usr/lib/postgresql/15/bin/initdb]=postgresql-15
    [/usr/sbin/nginx]=nginx-light
)

missing=()
for binary in "${!package_of[@]}"; do
    if [[ ! -x "$binary" ]]; then
        missing+=("${package_of[$binary]}")
    fi
done
if ! command -v docker >/dev/null 2>&1 && [[ " ${missing[*]} " != *" docker.io "* ]]; then
    missing+=(docker.io)
fi
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if ((${#missing[@]} == 0)); then
    echo "setup: system packages present"
else
    if ((EUID != 0)); then
        echo "setup: missing packages ${missing[*]}; run scripts/setup.sh as root" >&2
        exit 1
    fi

    # A policy-rc.d that exits 101 makes the packages' scripts not to start their services:
    # PostgreSQL would start a cluster on port 5432 and nginx would listen on 0.0.0.0:80.
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# Written by opscheck scripts/setup.sh: start no services.\nexit 101\n' \
            >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi

    started=$SECONDS
    echo "setup: installing ${missing[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    run_logged "apt-get update" apt-get update
    run_logged "apt-get install" apt-get install -y --no-install-recommends "${missing[@]}"
    echo "setup: installed ${missing[*]} in $((SECONDS - started)) s"

    if ((created_policy)); then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi

# The Debian package creates a "main" cluster on port 5432. It stays on disk, but it
# must not run: tests and the demo start their own servers on free ports.
main_cluster_online() {
    command -v pg_lsclusters >/dev/null 2>&1 \
        && pg_lsclusters --no-header 2>/dev/null \
        | awk '$1 == 15 && $2 == "main" && $4 ~ /^online/' | grep -q .
}
if main_cluster_online; then
    run_logged "pg_ctlcluster 15 main stop" pg_ctlcluster 15 main stop
    echo "setup: stopped the PostgreSQL 15 main cluster"
fi

if timeout 10 docker -H unix:///var/run/docker.sock info >/dev/null 2>&1; then
    echo "setup: Docker engine responds on /var/run/docker.sock"
else
    bash "$repo_root/scripts/start-dockerd.sh"
fi

venv="$repo_root/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "setup: opscheck needs Python 3.11 or later, python3 is $(python3 --version 2>&1)" >&2
        exit 1
    fi
    run_logged "python3 -m venv" python3 -m venv "$venv"
    echo "setup: created $venv with $("$venv/bin/python" --version)"
fi

# A regular (non-editable) install, so the opscheck command in .venv/bin works from
# any folder and finds its checks and assets inside the installed package.
started=$SECONDS
if ((dev)); then
    target="$repo_root[dev]"
else
    target="$repo_root"
fi
# A developer who installed opscheck editable (pip install -e) keeps that install.
editable=()
if "$venv/bin/python" -m pip show opscheck 2>/dev/null | grep -q '^Editable project location:'; then
    editable=(-e)
fi
run_logged "pip install" "$venv/bin/python" -m pip install --disable-pip-version-check "${editable[@]}" "$target"
echo "setup: installed opscheck into $venv in $((SECONDS - started)) s$( ((dev)) && echo ' (with dev tools)')"
