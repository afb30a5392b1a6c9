#!/usr/bin/env bash
# Regenerates sdk/go/gen/ (Go messages and gRPC stubs) from proto/taskstream/v1/ with buf and the
# local plugins protoc-gen-go and protoc-gen-go-grpc, installed at the pinned versions below into
# .tools/go/bin by `go install` (the Go module proxy is the only network access).
#   scripts/proto-gen-go.sh          regenerate in place
#   scripts/proto-gen-go.sh --check  regenerate into a temporary directory and fail if sdk/go/gen differs
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT"

# Keep these in step with the runtime versions in sdk/go/go.mod (google.golang.org/protobuf, grpc).
PROTOC_GEN_GO_VERSION=v1.36.11
PROTOC_GEN_GO_GRPC_VERSION=v1.6.1
BIN="$ROOT/.tools/go/bin"

install_plugin() { # <binary> <module path>@<version> <expected --version output>
  local binary=$1 module=$2 expected=$3
  if [ -x "$BIN/$binary" ] && [ "$("$BIN/$binary" --version 2>/dev/null)" = "$expected" ]; then return; fi
  echo "taskstream: installing $module into .tools/go/bin"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "$module"
}
install_plugin protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION" \
  "protoc-gen-go $PROTOC_GEN_GO_VERSION"
install_plugin protoc-gen-go-grpc "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION" \
  "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"

generate() { # <output base directory>
  # Only the public contract: the dispatchers' own protocol (taskstream/cluster) is not the SDK's.
  npx buf generate proto --template proto/buf.gen.go.yaml --path proto/taskstream/v1 --output "$1"
}

case "${1:-}" in
  "")
    rm -rf sdk/go/gen
    generate .
    ;;
  --check)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp"
    if ! diff -r "$tmp/sdk/go/gen" sdk/go/gen >"$tmp/diff" 2>&1; then
      cat "$tmp/diff" >&2
      echo "taskstream: sdk/go/gen is stale; run scripts/proto-gen-go.sh and commit the result" >&2
      exit 1
    fi
    echo "taskstream: sdk/go/gen is up to date"
    ;;
  *) echo "usage: scripts/proto-gen-go.sh [--check]" >&2; exit 2 ;;
esac
