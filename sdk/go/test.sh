#!/usr/bin/env bash
# The Go SDK's checks, run by the project's test command (scripts/test.sh) and runnable alone:
#   sdk/go/test.sh              gofmt, go vet, unit tests (no services), generated code up to date
#   sdk/go/test.sh integration  the integration tests against a real Taskstream (see integration.sh)
# It downloads the module's dependencies (go mod download) and, for the staleness check, the two
# pinned protoc plugins into .tools/go/bin; nothing else.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"
command -v go >/dev/null 2>&1 || { echo "go sdk: the go command is required (Go 1.25 or newer)" >&2; exit 1; }

if [ "${1:-}" = "integration" ]; then
  exec bash "$HERE/integration.sh"
fi

echo "go sdk: go mod download"
go mod download
echo "go sdk: gofmt"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
  echo "go sdk: these files are not gofmt-formatted:" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "go sdk: go vet"
go vet ./...
echo "go sdk: go test"
go test -count=1 ./...
echo "go sdk: generated code"
bash "$ROOT/scripts/proto-gen-go.sh" --check
