#!/usr/bin/env bash
# Runs the Go SDK's integration tests (sdk/go/integration, build tag "integration") against a real
# Taskstream. With TASKSTREAM_GRPC_ADDRESS set they run against that server. Otherwise this starts
# one: the local services (scripts/services.sh, which honours TASKSTREAM_REDIS_PORT, _ETCD_PORT and
# _PG_PORT), `taskstream migrate`, then `taskstream serve` with every role on free loopback ports,
# a key prefix of its own and a 64 KiB result limit; the server is stopped afterwards.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

run_tests() {
  (cd "$HERE" && go test -tags integration -count=1 ./integration/)
}

if [ -n "${TASKSTREAM_GRPC_ADDRESS:-}" ]; then
  run_tests
  exit
fi

. "$ROOT/scripts/env.sh"
cd "$ROOT"
if [ -z "${TASKSTREAM_REDIS_URL:-}" ]; then
  bash scripts/services.sh start
  load_service_env
fi

free_port() {
  node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}
TASKSTREAM_HTTP_PORT="$(free_port)"
TASKSTREAM_GRPC_PORT="$(free_port)"
export TASKSTREAM_HTTP_PORT TASKSTREAM_GRPC_PORT
export TASKSTREAM_HOST=127.0.0.1 TASKSTREAM_PREFIX="go-it-$$" TASKSTREAM_MAX_RESULT_BYTES=65536
log="$(mktemp -t taskstream-go-it.XXXXXX.log)"

node cli/main.ts migrate >/dev/null
node cli/main.ts serve --roles api,dispatcher,projector,read-api >"$log" 2>&1 &
server=$!
stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop_server EXIT

for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$TASKSTREAM_HTTP_PORT/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "go sdk: the Taskstream server exited; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$TASKSTREAM_HTTP_PORT/readyz" >/dev/null || {
  echo "go sdk: the Taskstream server did not become ready; its log: $log" >&2
  exit 1
}

export TASKSTREAM_GRPC_ADDRESS="127.0.0.1:$TASKSTREAM_GRPC_PORT"
if run_tests; then
  rm -f "$log"
else
  echo "go sdk: integration tests failed; the server's log: $log" >&2
  exit 1
fi
