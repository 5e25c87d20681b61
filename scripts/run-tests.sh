#!/usr/bin/env bash
# Set the host up with the development tools, then run the test suite from the
# repository root. Arguments go to pytest unchanged; without any, pytest runs the
# test paths set in pyproject.toml.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/setup.sh" --dev
cd "$repo_root"

status=0
"$repo_root/.venv/bin/python" -m pytest "$@" </dev/null || status=$?

# pytest exits 5 when it collected no tests: a run that checked nothing is a failure.
if ((status == 5)); then
    echo "run-tests: pytest collected no tests (exit 5); check the test paths and -k/-m" \
        "selection" >&2
    exit 1
fi
exit "$status"
