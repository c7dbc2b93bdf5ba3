#!/usr/bin/env bash
# Add radviewer to the desktop's application menu for the current user.
# Run it from the built app's folder (dist/radviewer/install-desktop.sh) or pass that folder.
set -euo pipefail
APP="$(realpath "${1:-$(dirname "${BASH_SOURCE[0]}")}")"
if [ ! -x "$APP/radviewer" ]; then
    echo "install-desktop.sh: no radviewer executable in $APP; pass the built app's folder" >&2
    exit 1
fi
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$DATA/applications" "$DATA/icons/hicolor/256x256/apps"
cp "$APP/radviewer.png" "$DATA/icons/hicolor/256x256/apps/radviewer.png"
sed "s|^Exec=radviewer|Exec=\"$APP/radviewer\"|" "$APP/radviewer.desktop" \
    >"$DATA/applications/radviewer.desktop"
echo "installed $DATA/applications/radviewer.desktop (runs $APP/radviewer)"
