# Sourced by scripts/start and scripts/test: create .venv and install radviewer into it.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${RADVIEWER_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"

find_python() {
    for py in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    echo "radviewer needs Python 3.11 or newer (e.g. sudo apt install python3.11)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(find_python)"
    echo "radviewer: creating $VENV with $PY" >&2
    if ! "$PY" -m venv "$VENV"; then
        echo "radviewer: could not create a virtual environment;" \
            "on Debian/Ubuntu: sudo apt install python3-venv" >&2
        exit 1
    fi
fi

STAMP="$VENV/.radviewer-installed"
WANT="$(sha256sum pyproject.toml | cut -c1-16) extras=[$EXTRAS]"
if [ ! -f "$STAMP" ] || ! grep -qxF "$WANT" "$STAMP"; then
    echo "radviewer: installing dependencies (first run takes a minute)" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    spec="."
    [ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
    "$VENV/bin/python" -m pip install --quiet -e "$spec"
    echo "$WANT" >"$STAMP"
fi
export PATH="$VENV/bin:$PATH"
