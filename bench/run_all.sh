#!/usr/bin/env bash
# Every benchmark at full size, one after the other, on a quiet machine (see bench/README.md).
# Results: one JSON line each on stdout, appended to bench/results/<bench>.json.
#
#   bench/run_all.sh                         # intake, lifecycle, actions, clocks at 1k, 10k, 100k open leads
#   CLOCK_SIZES="1000 10000" bench/run_all.sh  # skip the 100k run (hours: see bench/README.md)
#   bench/run_all.sh --database-url sqlite   # extra arguments go to every benchmark
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
export PATH="$PWD/.venv/bin:$PATH"

sizes="${CLOCK_SIZES:-1000 10000 100000}"
.venv/bin/python -m bench.intake "$@"
.venv/bin/python -m bench.lifecycle "$@"
.venv/bin/python -m bench.actions "$@"
for n in $sizes; do
    seed=intake
    [ "$n" -ge 10000 ] && seed=state  # started with their state: hours less (bench/README.md, b)
    .venv/bin/python -m bench.clocks --open-leads "$n" --seed "$seed" --concurrency 32 "$@"
done
