#!/usr/bin/env bash
# Set the host up, then start the bundled demo stack and run the daily suite on it.
# Arguments go to `opscheck demo` unchanged.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/setup.sh"
cd "$repo_root"
exec "$repo_root/.venv/bin/opscheck" demo "$@"
