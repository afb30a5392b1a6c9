#!/usr/bin/env bash
# `npm start`: Node 24 and the npm packages when missing, the local Redis, etcd and PostgreSQL, then
# `taskstream dev` — every role in one process plus a demo worker. Ctrl-C stops Taskstream; the
# services keep running for next time (`npm run services -- stop` stops them).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT"
if [ -z "${TASKSTREAM_REDIS_URL:-}" ]; then
  bash scripts/services.sh start
  load_service_env
fi
bash scripts/console-build.sh
exec node cli/main.ts dev "$@"
