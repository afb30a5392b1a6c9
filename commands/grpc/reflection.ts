import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type {
  Server,
  ServerDuplexStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { GrpcAuthenticate } from "./unary.ts";
import { toServiceError } from "./status.ts";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/**
 * The descriptor sets reflection serves, built by buf from the .proto files (scripts/proto-descriptors.sh,
 * checked fresh by `npm test`): exact names, imports and comments, which descriptors rebuilt by
 * proto-loader lack (it merges files by package and writes relative, camel-cased names).
 */
const DESCRIPTOR_SETS = ["taskstream-v1.binpb", "grpc-health-v1.binpb"].map(
  (name) => new URL(`../../proto/gen/descriptors/${name}`, import.meta.url),
);

/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, docs/apis.md) so grpcurl, Postman and
 * other clients call Taskstream without the .proto files. It knows only the public contract
 * (`taskstream/v1`) and the health service: internal protocols sharing the server (the dispatchers'
 * `taskstream.cluster.*`) are neither listed nor described. `services` names the services this
 * process serves (an api-only process does not list WorkerService).
 */
export function reflectionService(services: readonly string[]): ReflectionService {
  const files = DESCRIPTOR_SETS.flatMap(
    (url) => fromBinary(FileDescriptorSetSchema, readFileSync(fileURLToPath(url))).file,
  );
  // @grpc/reflection reads only `fileDescriptorProtos` of a package definition's entries.
  const definition = {
    descriptors: {
      format: "Protocol Buffer 3 DescriptorProto",
      type: {},
      fileDescriptorProtos: files.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file))),
    },
  } as unknown as PackageDefinition;
  return new ReflectionService(definition, { services: [...services] });
}

/**
 * Adds reflection to `server`, each reflection stream authenticated first like every other call
 * (auth/grpc.ts): under required authentication, a stream without a valid key ends UNAUTHENTICATED
 * before any request of it is read. No scope is needed: reflection says only what the public
 * contract is. The health service stays unauthenticated (Kubernetes probes carry no key).
 */
export function addReflection(
  server: Server,
  reflection: ReflectionService,
  authenticate: GrpcAuthenticate,
): void {
  const guarded = {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      type Handler = (stream: ServerDuplexStream<unknown, unknown>) => void;
      const handlers: Record<string, Handler> = {};
      for (const [name, handler] of Object.entries(implementation)) {
        handlers[name] = (stream) =>
          void authenticate(stream.metadata).then(
            () => (handler as Handler)(stream),
            (error: unknown) => stream.emit("error", toServiceError(error)),
          );
      }
      server.addService(definition, handlers);
    },
  };
  reflection.addToServer(guarded);
}
