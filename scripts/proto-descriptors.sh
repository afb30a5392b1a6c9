#!/usr/bin/env bash
# Writes the descriptor sets gRPC reflection serves (commands/grpc/reflection.ts) into the folder
# given, from proto/ (run there): the public contract only (taskstream/v1, with its comments) and the
# standard health service's proto as the grpc-health-check package ships it. Internal protocols
# (taskstream/cluster) are left out on purpose: reflection advertises nothing else.
set -euo pipefail
out=$1
mkdir -p "$out"
npx buf build --path taskstream/v1 -o "$out/taskstream-v1.binpb"
npx buf build ../node_modules/grpc-health-check/proto -o "$out/grpc-health-v1.binpb"
