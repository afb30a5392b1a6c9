#!/usr/bin/env bash
# The test command: `npm test` runs typecheck, lint, format check, the Go and Python SDKs' checks, the
# deploy checks and every tier; `npm run test:unit`, `test:int`, `test:e2e`, `test:browser` (the
# console in headless Chromium, part of e2e), `test:cluster` (a Redis Cluster and a three-member
# etcd, started here; not part of `npm test`), `test:go` (sdk/go/test.sh), `test:python`
# (sdk/python/test.sh) and `test:deploy` (deploy/check.sh) run one part. Installs Node 24 and the npm
# packages when missing and, for the tiers that need them, starts the local Redis, etcd and
# PostgreSQL (scripts/services.sh), builds the web console when stale and installs Chromium
# (scripts/ensure-chromium.sh).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT"
tier="${1:-all}"

# Local services unless URLs are given, or a Docker engine answers (then Testcontainers starts them).
case "$tier" in unit | go | python | deploy) needs_services=0 ;; *) needs_services=1 ;; esac
if [ "$tier" = cluster ]; then
  # The cluster tier brings its own: a Redis Cluster and a three-member etcd (and PostgreSQL).
  TASKSTREAM_REDIS_CLUSTER=1 TASKSTREAM_ETCD_CLUSTER=1 bash scripts/services.sh start
  load_service_env
  needs_services=0
fi
if [ "$needs_services" = 1 ] && [ -z "${TASKSTREAM_REDIS_URL:-}" ] && ! docker info >/dev/null 2>&1; then
  bash scripts/services.sh start
  load_service_env
fi

# The end-to-end tier drives the console in a real browser.
case "$tier" in e2e | browser | all)
  bash scripts/console-build.sh
  bash scripts/ensure-chromium.sh
  ;;
esac

case "$tier" in
  unit)
    bash deploy/check.sh --install # the chart's unit specs render it with helm
    exec npx vitest run --project unit
    ;;
  int | e2e | cluster) exec npx vitest run --project "$tier" ;;
  browser) exec npx vitest run --project e2e tests/e2e/console.e2e.spec.ts ;;
  go) exec bash sdk/go/test.sh ;;
  python) exec bash sdk/python/test.sh ;;
  deploy) exec bash deploy/check.sh ;;
  all)
    echo "taskstream: typecheck"
    npx tsc --noEmit -p .
    npx tsc --noEmit -p read-api/console
    echo "taskstream: lint"
    npx eslint --max-warnings 0 .
    echo "taskstream: format"
    npx prettier --check --log-level warn .
    echo "taskstream: gRPC contract (buf lint, generated code, breaking changes)"
    bash scripts/proto-check.sh
    echo "taskstream: go sdk (generated code, gofmt, vet, unit tests)"
    bash sdk/go/test.sh
    echo "taskstream: python sdk (generated code, ruff, mypy, unit tests)"
    bash sdk/python/test.sh
    echo "taskstream: deploy checks (helm, kubeconform, promtool, hadolint)"
    bash deploy/check.sh
    exec npx vitest run --project unit --project int --project e2e
    ;;
  *) echo "usage: scripts/test.sh [unit|int|e2e|browser|cluster|go|python|deploy]" >&2; exit 2 ;;
esac
