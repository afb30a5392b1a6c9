# Sourced by scripts/conformance.sh and bench/run.sh (after scripts/env.sh): prepares the
# conformance workers of the SDKs present. Builds the Go worker into $CONFORMANCE_BUILD_DIR/bin when
# sdk/go/cmd/conformance-worker exists, and makes the Python SDK's virtualenv when sdk/python exists
# (its own sdk/python/scripts/venv.sh, else a venv of ours), exporting CONFORMANCE_PYTHON. A worker
# that cannot be prepared is only reported here; the suite then lists its language as skipped.

prepare_conformance_workers() {
  export CONFORMANCE_BUILD_DIR="${CONFORMANCE_BUILD_DIR:-$ROOT/.conformance}"

  if [ -d "$ROOT/sdk/go/cmd/conformance-worker" ] && [ -z "${CONFORMANCE_GO_WORKER:-}" ]; then
    if command -v go >/dev/null 2>&1; then
      echo "conformance: building the Go worker (sdk/go/cmd/conformance-worker)" >&2
      (cd "$ROOT/sdk/go" && go build -o "$CONFORMANCE_BUILD_DIR/bin/go-conformance-worker" ./cmd/conformance-worker) ||
        echo "conformance: the Go worker did not build" >&2
    else
      echo "conformance: no go toolchain on PATH; the Go worker cannot be built" >&2
    fi
  fi

  if [ -d "$ROOT/sdk/python" ] && [ -z "${CONFORMANCE_PYTHON:-}" ]; then
    if [ -f "$ROOT/sdk/python/scripts/venv.sh" ]; then
      # The SDK's own virtualenv (the one sdk/python/test.sh uses), made or refreshed as it makes it.
      CONFORMANCE_PYTHON="$(
        # shellcheck disable=SC1091
        . "$ROOT/sdk/python/scripts/venv.sh" >&2
        ensure_python_venv >&2 && echo "$VENV_PY"
      )" || echo "conformance: the Python SDK's virtualenv could not be made" >&2
    elif [ -f "$ROOT/sdk/python/pyproject.toml" ]; then
      local venv="$CONFORMANCE_BUILD_DIR/venv"
      if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
      if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT/sdk/python" >&2; then
        CONFORMANCE_PYTHON="$venv/bin/python"
      else
        echo "conformance: sdk/python did not install" >&2
      fi
    fi
    if [ -n "${CONFORMANCE_PYTHON:-}" ]; then export CONFORMANCE_PYTHON; fi
  fi
}
