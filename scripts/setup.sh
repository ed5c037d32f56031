#!/usr/bin/env bash
# Create both virtualenvs from the lock files. Idempotent: a venv whose lock file has not
# changed since it was installed is left alone. Stops early, saying how to fix it, when
# Python 3.10 or 3.11 is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {  # $1 = 3.10 or 3.11; prints the interpreter's path
    local want=$1 candidate
    local candidates=("python$want")
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)"/versions/"$want".*/bin/python"$want")
    fi
    candidates+=("$HOME"/.pyenv/versions/"$want".*/bin/python"$want" /usr/local/bin/python"$want" /usr/bin/python"$want")
    for candidate in "${candidates[@]}"; do
        if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" \
            >/dev/null 2>&1; then
            command -v "$candidate" 2>/dev/null || echo "$candidate"
            return 0
        fi
    done
    return 1
}

make_venv() {  # $1 = venv dir, $2 = python version, $3 = lock file
    local dir=$1 version=$2 lock=$3 python stamp
    stamp="$dir/.installed-$(sha256sum "$lock" | cut -c1-16)"
    if [ -f "$stamp" ]; then
        echo "setup: $dir is up to date"
        return 0
    fi
    if ! python=$(find_python "$version"); then
        echo "setup: Python $version was not found." >&2
        echo "       Install it (for example 'pyenv install $version' or 'apt-get install python$version-venv')" >&2
        echo "       and make 'python$version' available on PATH, then run 'make setup' again." >&2
        exit 1
    fi
    echo "setup: creating $dir with $python"
    [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
    # --no-deps: the lock file pins every package, so nothing else may be resolved or upgraded
    # (in particular no CUDA build of torch and no numpy >= 1.24 next to Rasa).
    "$dir/bin/pip" install --disable-pip-version-check -q --no-deps -r "$lock"
    rm -f "$dir"/.installed-*
    touch "$stamp"
    echo "setup: $dir ready"
}

make_venv .venv-rasa 3.10 requirements/rasa.lock
make_venv .venv 3.11 requirements/app.lock
# Type stubs for the Rasa runtime's libraries, read only by `make lint` (mypy-rasa.ini). They live
# apart from .venv-rasa, so requirements/rasa.lock (part of the model's fingerprint) stays as it is.
types_stamp=".venv/rasa-types/.installed-$(sha256sum requirements/rasa-types.lock | cut -c1-16)"
if [ ! -f "$types_stamp" ]; then
    rm -rf .venv/rasa-types
    .venv/bin/pip install --disable-pip-version-check -q --no-deps --target .venv/rasa-types -r requirements/rasa-types.lock
    touch "$types_stamp"
fi
# Debian's chromium and fonts, for the web page's browser tests (skips what is installed).
bash scripts/install_chromium.sh
# Debian's nginx, the load balancer of `make run-cluster` and the cluster tests (skips when installed).
bash scripts/install_nginx.sh
mkdir -p var models
