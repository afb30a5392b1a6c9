import { readFile } from "node:fs/promises";
import { ValidationError } from "../domain/task/index.ts";
import type { Config } from "./config.ts";

/** The PEM contents of the configured TLS files. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** The CA of the client certificates the gRPC listener requires (mutual TLS); null: none required. */
  clientCa: Buffer | null;
}

/** Reads the TLS files the configuration names (null when TLS is off); a missing file names its setting. */
export async function loadTls(
  config: Pick<Config, "tlsCert" | "tlsKey" | "tlsClientCa">,
): Promise<TlsFiles | null> {
  if (config.tlsCert === "") return null;
  const read = async (field: string, path: string) => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new ValidationError([{ field, reason: `cannot read ${path}: ${(error as Error).message}` }]);
    }
  };
  return {
    cert: await read("tls-cert", config.tlsCert),
    key: await read("tls-key", config.tlsKey),
    clientCa: config.tlsClientCa === "" ? null : await read("tls-client-ca", config.tlsClientCa),
  };
}
