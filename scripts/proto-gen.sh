#!/usr/bin/env bash
# Regenerates proto/gen/ (TypeScript for @grpc/grpc-js, by ts-proto) from proto/taskstream/v1/.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT/proto"
rm -rf gen
npx buf lint
npx buf generate
npx prettier --log-level warn --write gen
