#!/usr/bin/env bash
# Smoke test of a built app: bash packaging/smoke.sh [dist/radviewer/radviewer]
#  1. every library in the bundle finds what it links (the Wayland client libraries come from
#     the desktop that uses them);
#  2. the window starts offscreen with the sample study and quits once its first image is
#     painted, printing the time from launch;
#  3. the same binary runs the tissue model headless on the sample, writes a DICOM SEG
#     (highdicom) and an annotated PNG.
# Exit 0 only if all succeed. Settings and logs go to a throw-away folder.
set -euo pipefail
EXE="$(realpath "${1:-dist/radviewer/radviewer}")"
INTERNAL="$(dirname "$EXE")/_internal"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
export QT_QPA_PLATFORM=offscreen

echo "== libraries"
missing="$(find "$(dirname "$EXE")" -name '*.so*' -type f -print0 |
    LD_LIBRARY_PATH="$INTERNAL:$INTERNAL/PySide6/Qt/lib" xargs -0 -n 50 ldd 2>/dev/null |
    grep 'not found' | grep -v 'libwayland-' | sort -u || true)"
if [ -n "$missing" ]; then
    echo "bundled libraries link missing ones:"; echo "$missing"; exit 1
fi
"$EXE" --version

echo "== window: --sample --exit-after-first-image"
"$EXE" --sample --exit-after-first-image | tee "$WORK/window.txt"
grep -q "first image:" "$WORK/window.txt"
grep -q "heavy modules loaded: none" "$WORK/window.txt"

echo "== headless: analyze --sample --model brainchop-tissue --seg-out"
"$EXE" analyze --sample --model brainchop-tissue --out "$WORK/analysis" \
    --seg-out "$WORK/tissue-seg.dcm" --quiet
python3 - "$WORK/analysis/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
volumes = r["label_volumes_ml"]
print("report:", r["model"]["id"], r["provider"], volumes)
assert volumes.get("Grey Matter", 0) > 100 and volumes.get("White Matter", 0) > 100, volumes
PY
test -s "$WORK/tissue-seg.dcm"
echo "== headless: export --sample --seg (annotated PNG)"
"$EXE" export --sample --seg "$WORK/tissue-seg.dcm" --out "$WORK/view.png" --quiet
test -s "$WORK/view.png"
echo "smoke test passed: $EXE"
