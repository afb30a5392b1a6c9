# Sourced by the project's scripts: puts Node.js 24 on PATH (installing it into .tools/ from the
# npm registry when the system Node is older than 22.12), installs the npm dependencies when they
# are missing or stale, and loads the local services' URLs when scripts/services.sh wrote them.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_NODE_BIN="$ROOT/.tools/node_modules/node/bin"

node_is_recent() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)'
}

ensure_node() {
  if [ -x "$LOCAL_NODE_BIN/node" ]; then
    export PATH="$LOCAL_NODE_BIN:$PATH"
  fi
  if ! node_is_recent; then
    echo "taskstream: installing Node.js 24 into .tools/ (system Node is $(node --version 2>/dev/null || echo missing))"
    npm install --prefix "$ROOT/.tools" --no-audit --no-fund --loglevel=error node@24 >/dev/null
    export PATH="$LOCAL_NODE_BIN:$PATH"
  fi
}

ensure_deps() {
  local stamp="$ROOT/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
    echo "taskstream: installing npm dependencies"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

load_service_env() {
  local file="${TASKSTREAM_SERVICES_DIR:-$ROOT/.services}/env"
  # shellcheck disable=SC1090
  if [ -f "$file" ]; then set -a; . "$file"; set +a; fi
}

# The generated protocol code is a package of its own (@taskstream/protocol, proto/); the SDK imports
# it by name, built to JavaScript in proto/dist. Built when missing or older than proto/gen.
ensure_protocol_built() {
  local stamp="$ROOT/proto/dist/.built"
  if [ ! -f "$stamp" ] || [ -n "$(find "$ROOT/proto/gen" -newer "$stamp" -name '*.ts' 2>/dev/null | head -n 1)" ]; then
    (cd "$ROOT/proto" && "$ROOT/node_modules/.bin/tsc" -p tsconfig.build.json) && touch "$stamp"
  fi
}

ensure_node
ensure_deps
ensure_protocol_built
