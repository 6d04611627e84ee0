#!/usr/bin/env bash
# Run the whole stack locally: Temporal dev server, seed data, worker and API.
# Options are those of `python -m devtools.dev --help` (--time-scale N, --fresh, --demo-leads N, --temporal-only,
# --show-logs: the servers log to data/logs/ unless this is given).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
exec .venv/bin/python -m devtools.dev "$@"
