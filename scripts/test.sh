#!/usr/bin/env bash
# The test command: `npm test` runs typecheck, lint, format check and every tier; `npm run test:unit`,
# `test:int` and `test:e2e` run one tier. Installs Node 24 and the npm packages when missing and,
# for the tiers that need them, starts the local Redis, etcd and PostgreSQL (scripts/services.sh).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT"
tier="${1:-all}"

# Local services unless URLs are given, or a Docker engine answers (then Testcontainers starts them).
if [ "$tier" != "unit" ] && [ -z "${TASKSTREAM_REDIS_URL:-}" ] && ! docker info >/dev/null 2>&1; then
  bash scripts/services.sh start
  load_service_env
fi

case "$tier" in
  unit | int | e2e) exec npx vitest run --project "$tier" ;;
  all)
    echo "taskstream: typecheck"
    npx tsc --noEmit -p .
    echo "taskstream: lint"
    npx eslint --max-warnings 0 .
    echo "taskstream: format"
    npx prettier --check --log-level warn .
    echo "taskstream: deploy checks (helm, kubeconform, promtool, hadolint)"
    bash deploy/check.sh
    exec npx vitest run
    ;;
  *) echo "usage: scripts/test.sh [unit|int|e2e]" >&2; exit 2 ;;
esac
