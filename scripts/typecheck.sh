#!/usr/bin/env bash
# Type-check the package as the wheel lays it out: checks/ and fixtures/ become
# opscheck.checks and opscheck.fixtures, which mypy cannot map from the source tree.
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
layout=$(mktemp -d)
trap 'rm -rf "$layout"' EXIT

mkdir "$layout/opscheck"
for entry in "$repo_root"/opscheck/*; do
    ln -s "$entry" "$layout/opscheck/"
done
ln -s "$repo_root/checks" "$layout/opscheck/checks"
ln -s "$repo_root/fixtures" "$layout/opscheck/fixtures"

cd "$layout"
exec "$repo_root/.venv/bin/mypy" --strict --ignore-missing-imports --follow-imports=silent -p opscheck "$@"
