#!/bin/sh
# The currents2mixpanel benchmark: builds, generates fixtures (once), measures, prints the table
# and writes bench/out/results.md. Options: --quick, --runs N, --regen, --no-build (see README.md).
set -e
cd "$(dirname "$0")/.."
exec python3 bench/run.py "$@"
