import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { create, createFileRegistry, fromBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { protoPath as healthProtoPath } from "grpc-health-check";

const require = createRequire(import.meta.url);
const reflectionProto = join(
  dirname(require.resolve("@grpc/reflection")),
  "../proto/grpc/reflection/v1/reflection.proto",
);

type Answer = {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
};
type ReflectionStub = Client & {
  ServerReflectionInfo(
    metadata?: Metadata,
  ): NodeJS.ReadWriteStream & { write(request: object): boolean; end(): void };
};
type HealthStub = Client & {
  Check(
    request: { service: string },
    callback: (error: ServiceError | null, answer: { status: string }) => void,
  ): void;
  Watch(request: { service: string }): NodeJS.ReadableStream;
};

/**
 * A client that knows nothing of Taskstream's .proto files: it asks the server's reflection service
 * (grpc.reflection.v1) what it serves, as grpcurl does, and calls the standard health service.
 */
export class DiscoveryClient {
  private readonly reflection: ReflectionStub;
  readonly health: HealthStub;

  /** `key`: an API key sent with each reflection stream (`authorization: Bearer …`); health sends none. */
  private readonly key: string | undefined;

  constructor(address: string, key?: string) {
    this.key = key;
    const loaded = loadPackageDefinition(loadSync([reflectionProto, healthProtoPath], { enums: String }));
    const grpc = loaded.grpc as unknown as {
      reflection: { v1: { ServerReflection: new (...args: unknown[]) => ReflectionStub } };
      health: { v1: { Health: new (...args: unknown[]) => HealthStub } };
    };
    this.reflection = new grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
    this.health = new grpc.health.v1.Health(address, credentials.createInsecure());
  }

  /** `grpcurl list`: the services the server advertises. */
  async listServices(): Promise<string[]> {
    const answer = await this.ask({ listServices: "" });
    return (answer.listServicesResponse?.service ?? []).map((s) => s.name).sort();
  }

  /** `grpcurl describe SYMBOL`: the file declaring the symbol and its imports, as a registry. */
  async describe(symbol: string): Promise<FileRegistry> {
    const answer = await this.ask({ fileContainingSymbol: symbol });
    if (answer.errorResponse)
      throw new Error(`${answer.errorResponse.errorCode}: ${answer.errorResponse.errorMessage}`);
    const files = (answer.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) =>
      fromBinary(FileDescriptorProtoSchema, bytes),
    );
    return createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
  }

  /** `grpc.health.v1.Health/Check`: the status's name, or the call's error code. */
  check(service: string): Promise<string> {
    return new Promise((resolve) =>
      this.health.Check({ service }, (error, answer) =>
        resolve(error ? `error ${error.code}` : answer.status),
      ),
    );
  }

  close(): void {
    this.reflection.close();
    this.health.close();
  }

  private ask(request: object): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const metadata = new Metadata();
      if (this.key) metadata.set("authorization", `Bearer ${this.key}`);
      const stream = this.reflection.ServerReflectionInfo(metadata);
      stream.once("data", (answer: Answer) => {
        resolve(answer);
        stream.end();
      });
      stream.once("error", reject);
      stream.write(request);
    });
  }
}
