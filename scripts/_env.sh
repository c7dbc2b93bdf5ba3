# Sourced by scripts/start, scripts/test and packaging/build.sh: create .venv and install
# radviewer into it with the extras named in $1 (comma-separated, may be empty).
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

# The stamp records pyproject.toml's hash and every extra installed so far. scripts/start (no
# extras), scripts/test (test), --convert and --package share this one environment: a command
# installs only when an extra it needs is missing or pyproject.toml changed, and then installs
# the union, so the commands never reinstall each other's extras back and forth. With the stamp
# current nothing touches the network: offline, everything installed, the commands still start.
STAMP="$VENV/.radviewer-installed"
# setup.py and the C sources count too: the editable install builds viewer/ai/_resample.c.
HASH="$(cat pyproject.toml setup.py viewer/ai/*.c | sha256sum | cut -c1-16)"
have_hash="" have_extras=""
if [ -f "$STAMP" ]; then
    read -r have_hash have_extras <"$STAMP" || true
    # A stamp of an older format (or a hand-edited one) counts as no extras.
    [[ "$have_extras" =~ ^[a-z0-9,-]*$ ]] || have_extras=""
fi
union="$(printf '%s\n' ${have_extras//,/ } ${EXTRAS//,/ } | sed '/^$/d' | sort -u | paste -sd, -)"
missing=""
for extra in ${EXTRAS//,/ }; do
    case ",$have_extras," in *",$extra,"*) ;; *) missing+="$extra " ;; esac
done
if [ "$have_hash" != "$HASH" ] || [ -n "$missing" ]; then
    echo "radviewer: installing dependencies${union:+ (extras: $union)}" \
        "(first run takes a minute)" >&2
    # A newer pip is nice to have, not needed: never fail (or wait long) on it offline.
    "$VENV/bin/python" -m pip install --quiet --upgrade --timeout 15 pip 2>/dev/null || true
    spec="."
    [ -n "$union" ] && spec=".[$union]"
    "$VENV/bin/python" -m pip install --quiet -e "$spec"
    echo "$HASH $union" >"$STAMP"
fi
export PATH="$VENV/bin:$PATH"
