#!/usr/bin/env bash
# Checks the gRPC contract (run by `npm test`): buf lint; the generated TypeScript and descriptor
# sets in proto/gen are what the .proto files generate now (regenerated into a temporary folder and
# compared); and no breaking change against the last release tag (v*), with buf breaking. The Go and Python SDKs
# check their own generated code (sdk/go/test.sh, sdk/python/test.sh).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT/proto"

npx buf lint
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx buf generate -o "$out"
bash "$ROOT/scripts/proto-descriptors.sh" "$out/gen/descriptors"
npx prettier --config "$ROOT/.prettierrc.json" --log-level warn --write "$out/gen" >/dev/null
if ! diff -r "$out/gen" gen >/dev/null; then
  diff -r "$out/gen" gen | head -n 40 >&2
  echo "proto-check: proto/gen is stale; run npm run proto:gen and commit the result" >&2
  exit 1
fi
echo "proto-check: proto/gen is up to date"

release=$(git -C "$ROOT" tag --list 'v*' --sort=-v:refname | head -n 1)
if [ -z "$release" ]; then
  echo "proto-check: no release tag (v*) to check for breaking changes against"
else
  npx buf breaking --against "$ROOT/.git#tag=$release,subdir=proto"
  echo "proto-check: no breaking change against $release"
fi
