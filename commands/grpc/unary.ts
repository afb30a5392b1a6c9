import type { Metadata, sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Principal } from "../../auth/principal.ts";
import { toServiceError } from "./status.ts";

/** Who made a gRPC call: from its `authorization` metadata (auth/grpc.ts), or throws UNAUTHENTICATED. */
export type GrpcAuthenticate = (metadata: Metadata) => Promise<Principal>;

/**
 * A unary handler that authenticates the call before anything else runs, then answers with the
 * handler's result or its error mapped to a gRPC status (status.ts).
 */
export function authenticatedUnary(authenticate: GrpcAuthenticate) {
  return <Req, Res>(handler: (call: ServerUnaryCall<Req, Res>, principal: Principal) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      authenticate(call.metadata)
        .then((principal) => handler(call, principal))
        .then(
          (response) => callback(null, response),
          (error: unknown) => callback(toServiceError(error)),
        );
    };
}
