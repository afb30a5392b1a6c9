import { credentials as grpcCredentials, Metadata, type ChannelCredentials } from "@grpc/grpc-js";

/** TLS for the connection: PEM texts (or buffers) of the server's CA and, for mutual TLS, the client's certificate and key. */
export interface TlsOptions {
  /** CA certificate(s) that signed the server's certificate; the system roots when absent. */
  ca?: string | Buffer;
  /** The client's certificate chain (mutual TLS). */
  cert?: string | Buffer;
  /** The client's private key (mutual TLS). */
  key?: string | Buffer;
}

/** What the worker and the client connect with. */
export interface ConnectOptions {
  /** gRPC channel credentials; wins over `tls`. Insecure (plaintext) when neither is given. */
  credentials?: ChannelCredentials;
  /** TLS settings; mutual TLS when `cert` and `key` are given. */
  tls?: TlsOptions;
  /** An API key (`tsk_…`), sent as `authorization: Bearer <key>` on every call. */
  apiKey?: string;
}

const buffer = (value: string | Buffer | undefined) =>
  value === undefined ? null : Buffer.isBuffer(value) ? value : Buffer.from(value);

/** The channel credentials for the options (API keys travel as call metadata, see `callMetadata`). */
export function channelCredentials(options: ConnectOptions): ChannelCredentials {
  if (options.credentials) return options.credentials;
  const tls = options.tls;
  if (!tls) return grpcCredentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new Error("tls: cert and key go together (mutual TLS needs both)");
  return grpcCredentials.createSsl(buffer(tls.ca), buffer(tls.key), buffer(tls.cert));
}

/** Checks an API key's form: non-empty, no whitespace (it goes into a header). */
export function checkApiKey(apiKey: string | undefined): void {
  if (apiKey !== undefined && (apiKey === "" || /\s/.test(apiKey)))
    throw new Error("apiKey must be a non-empty string without whitespace");
}

/** Metadata for one call: `authorization` when an API key is set. */
export function callMetadata(apiKey: string | undefined): Metadata {
  const metadata = new Metadata();
  if (apiKey) metadata.set("authorization", `Bearer ${apiKey}`);
  return metadata;
}
