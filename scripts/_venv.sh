# Sourced by scripts/run.sh and scripts/test.sh (not run on its own).
# Makes sure .venv exists and has this pyproject.toml installed, re-installing only when
# pyproject.toml changed since the last install (its hash is kept in .venv/.pyproject.sha256).
# Expects the current directory to be the repository root.

_leadflow_find_python() {
    local candidate
    for candidate in python3.11 python3.12 python3.13 python3.14 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

_leadflow_bootstrap_venv() {
    local python stamp want have
    if [ ! -x .venv/bin/python ]; then
        python="$(_leadflow_find_python)" || {
            echo "error: Python 3.11 or newer is needed (tried python3.11 ... python3, python)" >&2
            return 1
        }
        echo "==> creating .venv with $python ($("$python" --version 2>&1))"
        rm -rf .venv
        "$python" -m venv .venv || return 1
    fi
    stamp=.venv/.pyproject.sha256
    want="$(.venv/bin/python -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' pyproject.toml)" || return 1
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$want" != "$have" ]; then
        echo "==> installing leadflow and its dependencies into .venv (pyproject.toml changed)"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' || return 1
        echo "$want" >"$stamp"
    fi
}

_leadflow_bootstrap_venv || {
    echo "error: could not set up .venv (see above)" >&2
    exit 1
}
