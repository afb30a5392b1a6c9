# Sourced by sdk/python/test.sh and scripts/proto-gen-python.sh: makes sure the SDK's project-local
# virtualenv (sdk/python/.venv) exists with the package installed editable and its pinned test and
# code-generation tools, reinstalling only when pyproject.toml changed since the last install.
SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TASKSTREAM_PYTHON_VENV:-$SDK_DIR/.venv}"
VENV_BIN="$VENV/bin"
VENV_PY="$VENV_BIN/python"

# The interpreter to build the virtualenv with: TASKSTREAM_PYTHON, else the first python3.x >= 3.10.
find_python() {
  local candidate
  for candidate in "${TASKSTREAM_PYTHON:-}" python3.13 python3.12 python3.11 python3.10 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "taskstream-python: no Python 3.10+ found (set TASKSTREAM_PYTHON)" >&2
  return 1
}

ensure_python_venv() {
  local stamp="$VENV/.taskstream-installed" want
  want="$(sha256sum "$SDK_DIR/pyproject.toml" | cut -d' ' -f1)"
  if [ -x "$VENV_PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV_PY" ]; then
    local python
    python="$(find_python)"
    echo "taskstream-python: creating $VENV with $($python --version)"
    "$python" -m venv "$VENV"
  fi
  echo "taskstream-python: installing the SDK and its dev tools into $VENV"
  "$VENV_PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV_PY" -m pip install --quiet --disable-pip-version-check -e "$SDK_DIR[dev]"
  echo "$want" >"$stamp"
}

# The version pinned with == for a tool in pyproject.toml's dev extra.
pinned_version() {
  "$VENV_PY" - "$SDK_DIR/pyproject.toml" "$1" <<'PY'
import re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]["dev"]
for requirement in extras:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^;\s]+)\s*", requirement)
    if match and match[1].lower() == sys.argv[2].lower():
        print(match[2])
        break
else:
    sys.exit(f"{sys.argv[2]} is not pinned with == in the dev extra of {sys.argv[1]}")
PY
}
