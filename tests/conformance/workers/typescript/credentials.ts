import {
  CallCredentials,
  ChannelCredentials,
  Metadata,
  credentials as grpcCredentials,
  type ChannelOptions,
} from "@grpc/grpc-js";

type SecureConnector = ReturnType<ChannelCredentials["_createSecureConnector"]>;

/**
 * Plaintext channel credentials that still send `authorization: Bearer <key>` on every call.
 * grpc-js refuses to compose call credentials with `createInsecure()` (it would leak the key over
 * plaintext to a remote host); a conformance run talks to loopback, and the SDK only accepts channel
 * credentials, so this wraps the insecure connector and hands it the bearer metadata itself.
 */
class BearerOverPlaintext extends ChannelCredentials {
  private readonly insecure = grpcCredentials.createInsecure();
  private readonly bearer: CallCredentials;

  constructor(apiKey: string) {
    super();
    this.bearer = CallCredentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${apiKey}`);
      callback(null, metadata);
    });
  }

  _isSecure(): boolean {
    return false;
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(
    target: Parameters<ChannelCredentials["_createSecureConnector"]>[0],
    options: ChannelOptions,
    callCredentials?: CallCredentials,
  ): SecureConnector {
    const combined = callCredentials ? this.bearer.compose(callCredentials) : this.bearer;
    return this.insecure._createSecureConnector(target, options, combined);
  }
}

/** The worker's channel credentials: plaintext, with the API key as a bearer token when one is set. */
export function workerCredentials(apiKey: string | undefined): ChannelCredentials {
  return apiKey ? new BearerOverPlaintext(apiKey) : grpcCredentials.createInsecure();
}
