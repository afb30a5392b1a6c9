#!/usr/bin/env bash
# The conformance suite: `npm run test:conformance [-- --lang go,python] [-- --scenario NAME]`.
# Puts Node 24 and the npm packages in place and starts the local services (unless URLs are given
# or a Docker engine answers, as scripts/test.sh does), prepares the Go and Python conformance
# workers when those SDKs are present (scripts/conformance-workers.sh), then runs
# tests/conformance/run.ts: every scenario of tests/conformance/SPEC.md for each SDK, the mixed
# fleet, and the scenario x language table. A language that cannot be prepared is reported by the
# suite as skipped (CONFORMANCE_REQUIRE=typescript,go,python makes that a failure).
set -euo pipefail
. "$(dirname "$0")/env.sh"
. "$ROOT/scripts/conformance-workers.sh"
cd "$ROOT"

if [ -z "${TASKSTREAM_REDIS_URL:-}" ] && ! docker info >/dev/null 2>&1; then
  bash scripts/services.sh start
  load_service_env
fi
prepare_conformance_workers

exec node tests/conformance/run.ts "$@"
