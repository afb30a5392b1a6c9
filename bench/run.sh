#!/usr/bin/env bash
# Taskstream vs BullMQ benchmark: `npm run bench` (full: issue's sizes, 3 runs) or `npm run bench -- --quick`;
# `npm run bench -- --sdk-drain` measures the drain per worker SDK instead (bench/sdk-drain.ts),
# `--takeover` a leader's takeover against history size (bench/takeover.ts), `--soak MINUTES` memory,
# latency and a leader's failover over a long run with a short retention (bench/soak.ts).
# Puts Node 24 and the npm dependencies in place, starts the local services (Redis, etcd, PostgreSQL on
# loopback), then runs bench/runner.ts, whose last line of output is one JSON object.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=../scripts/env.sh
. "$ROOT/scripts/env.sh"
bash "$ROOT/scripts/services.sh" start >&2
load_service_env
if [ "${1:-}" = "--sdk-drain" ]; then
  # Drain throughput per SDK (bench/sdk-drain.ts), with the conformance worker of each SDK present.
  . "$ROOT/scripts/conformance-workers.sh"
  prepare_conformance_workers
  exec node "$ROOT/bench/sdk-drain.ts" "$@"
fi
case " $* " in
  *" --takeover "*) exec node "$ROOT/bench/takeover.ts" "$@" ;; # takeover vs history size (bench/takeover.ts)
  *" --soak "*) exec node "$ROOT/bench/soak.ts" "$@" ;;         # memory over a long run (bench/soak.ts)
esac
exec node "$ROOT/bench/runner.ts" "$@"
