#!/usr/bin/env bash
# Builds the web console (read-api/console → read-api/console/dist, served at /ui) when the build is
# missing or older than any of its sources or the lockfile. Sourced-env scripts (start, test) call
# it; `npm run console:build` builds unconditionally.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSOLE="$ROOT/read-api/console"
STAMP="$CONSOLE/dist/index.html"
if [ -f "$STAMP" ] && [ -z "$(find "$CONSOLE/src" "$CONSOLE/index.html" "$CONSOLE/vite.config.mjs" \
  "$ROOT/package-lock.json" -newer "$STAMP" -print -quit)" ]; then
  exit 0
fi
echo "taskstream: building the web console (read-api/console)"
cd "$ROOT" && npx vite build --config read-api/console/vite.config.mjs
