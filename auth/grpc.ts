import type { Metadata } from "@grpc/grpc-js";
import type { Authenticator } from "./authenticator.ts";
import type { Principal } from "./principal.ts";

/** The caller of a gRPC call, from its `authorization` metadata (`Bearer <key>`). */
export function grpcPrincipal(authenticator: Authenticator, metadata: Metadata): Promise<Principal> {
  const [value] = metadata.get("authorization");
  return authenticator.authenticate(typeof value === "string" ? value : undefined);
}
