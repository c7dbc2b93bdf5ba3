#!/usr/bin/env bash
# Build the one-folder Linux app: dist/radviewer/ (run `dist/radviewer/radviewer`).
#   bash packaging/build.sh            build, then run the smoke test
#   bash packaging/build.sh --no-smoke build only
# Uses the project's .venv (created on first use, like scripts/start) with PyInstaller added.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_env.sh" "package"
cd "$ROOT"
rm -rf dist/radviewer
pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/radviewer.spec
echo "built dist/radviewer: $(du -sh dist/radviewer | cut -f1)," \
    "$(find dist/radviewer -type f | wc -l) files"
if [ "${1:-}" != "--no-smoke" ]; then
    bash packaging/smoke.sh dist/radviewer/radviewer
fi
