#!/usr/bin/env bash
# The Python SDK's tests, as `npm test` runs them: makes the virtualenv when missing (or when
# pyproject.toml changed), checks that the generated gRPC code matches proto/, lints and checks the
# formatting with ruff, type-checks with mypy --strict and runs the unit tests (no services
# needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. scripts/venv.sh
ensure_python_venv

echo "taskstream-python: generated code"
bash ../../scripts/proto-gen-python.sh --check
echo "taskstream-python: ruff"
"$VENV_BIN/ruff" check --quiet .
"$VENV_BIN/ruff" format --check --quiet .
echo "taskstream-python: mypy --strict"
"$VENV_BIN/mypy"
echo "taskstream-python: pytest"
exec "$VENV_PY" -m pytest -q "$@"
