#!/usr/bin/env bash
# The conformance suite: `npm run test:conformance [-- --lang go,python] [-- --scenario NAME]`.
# Puts Node 24 and the npm packages in place and starts the local services (unless URLs are given
# or a Docker engine answers, as scripts/test.sh does), builds the Go conformance worker when
# sdk/go has one, prepares the Python SDK's virtualenv when sdk/python exists, then runs
# tests/conformance/run.ts: every scenario of tests/conformance/SPEC.md for each SDK, the mixed
# fleet, and the scenario x language table. A language that cannot be prepared is reported by the
# suite as skipped (CONFORMANCE_REQUIRE=typescript,go,python makes that a failure).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT"

if [ -z "${TASKSTREAM_REDIS_URL:-}" ] && ! docker info >/dev/null 2>&1; then
  bash scripts/services.sh start
  load_service_env
fi

export CONFORMANCE_BUILD_DIR="${CONFORMANCE_BUILD_DIR:-$ROOT/.conformance}"

if [ -d sdk/go/cmd/conformance-worker ] && [ -z "${CONFORMANCE_GO_WORKER:-}" ]; then
  if command -v go >/dev/null 2>&1; then
    echo "conformance: building the Go worker (sdk/go/cmd/conformance-worker)"
    (cd sdk/go && go build -o "$CONFORMANCE_BUILD_DIR/bin/go-conformance-worker" ./cmd/conformance-worker) ||
      echo "conformance: the Go worker did not build" >&2
  else
    echo "conformance: no go toolchain on PATH; the Go worker cannot be built" >&2
  fi
fi

if [ -d sdk/python ] && [ -z "${CONFORMANCE_PYTHON:-}" ]; then
  if [ -f sdk/python/scripts/venv.sh ]; then
    # The SDK's own virtualenv (the one sdk/python/test.sh uses), made or refreshed as it makes it.
    CONFORMANCE_PYTHON="$(
      # shellcheck disable=SC1091
      . sdk/python/scripts/venv.sh >&2
      ensure_python_venv >&2 && echo "$VENV_PY"
    )" || echo "conformance: the Python SDK's virtualenv could not be made" >&2
  elif [ -f sdk/python/pyproject.toml ]; then
    venv="$CONFORMANCE_BUILD_DIR/venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e sdk/python &&
      CONFORMANCE_PYTHON="$venv/bin/python" || echo "conformance: sdk/python did not install" >&2
  fi
  if [ -n "${CONFORMANCE_PYTHON:-}" ]; then export CONFORMANCE_PYTHON; fi
fi

exec node tests/conformance/run.ts "$@"
