#!/usr/bin/env bash
# The test command: installs what is missing, builds the runtime images when the suite needs them,
# then runs every test in parallel. SKIP_IMAGES=1 leaves out the image tests (marked "images").
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh --test
select=()
if [ "${SKIP_IMAGES:-0}" = 1 ]; then
  select=(-m "not images")
elif [ -x tools/build-images.sh ]; then
  tools/build-images.sh all
fi
exec .venv/bin/python -m pytest -n auto "${select[@]}" "$@"
