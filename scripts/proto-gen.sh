#!/usr/bin/env bash
# Regenerates proto/gen/ (TypeScript for @grpc/grpc-js, by ts-proto) from proto/taskstream/v1/, and
# the descriptor sets that gRPC reflection serves (proto/gen/descriptors/, docs/apis.md).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$ROOT/proto"
rm -rf gen
npx buf lint
npx buf generate
bash "$ROOT/scripts/proto-descriptors.sh" gen/descriptors
npx prettier --log-level warn --write gen
