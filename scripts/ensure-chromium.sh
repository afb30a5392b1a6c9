#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (tests/support/browser.ts drives it
# with playwright-core; nothing downloads a browser build). Installs it with apt-get when running as
# root, like scripts/services.sh does for Redis, etcd and PostgreSQL; otherwise says how.
set -euo pipefail
CHROMIUM="${TASKSTREAM_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "taskstream: the browser tests need Chromium at $CHROMIUM: run \`sudo apt-get install -y chromium\`" >&2
  echo "            (or point TASKSTREAM_CHROMIUM at a Chromium binary)" >&2
  exit 1
fi
echo "taskstream: installing chromium (apt-get) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
