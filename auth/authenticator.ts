import { createHash } from "node:crypto";
import { TaskstreamError, UnauthenticatedError } from "../domain/task/index.ts";
import { parseKey, verifySecret } from "./api-keys.ts";
import type { KeyStore } from "./key-store.ts";
import { ALL_NAMESPACES, ANONYMOUS, type Principal } from "./principal.ts";

/** `required`: every call needs a valid API key. `off`: anyone is ANONYMOUS (development on loopback). */
export type AuthMode = "required" | "off";

export interface AuthenticatorOptions {
  mode: AuthMode;
  /** Where keys are looked up (required when the mode is `required`). */
  keys: Pick<KeyStore, "find"> | null;
  /** How long a verified key (or a refused one) is remembered: the delay before a revocation applies. */
  cacheMs?: number;
  /** Most keys remembered. */
  cacheSize?: number;
}

interface Cached {
  principal: Principal | null;
  reason: string;
  until: number;
}

/** scrypt runs at most this many at once: a flood of wrong secrets cannot take every thread. */
const MAX_VERIFYING = 4;

/**
 * Turns credentials into a Principal. A key is looked up by its id and its secret checked against
 * the stored scrypt hash; the outcome (valid or not) is remembered for `cacheMs` (10 s), keyed by a
 * SHA-256 of the whole key, so a busy client costs one scrypt per cache period and a revoked key
 * stops working within it everywhere.
 */
export class Authenticator {
  readonly mode: AuthMode;
  private readonly keys: Pick<KeyStore, "find"> | null;
  private readonly cacheMs: number;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<Cached>>();
  private verifying = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: AuthenticatorOptions) {
    this.mode = options.mode;
    this.keys = options.keys;
    this.cacheMs = options.cacheMs ?? 10_000;
    this.cacheSize = options.cacheSize ?? 10_000;
    if (this.mode === "required" && !this.keys) throw new Error("authentication requires a key store");
  }

  /**
   * The caller of a request carrying `authorization` (an HTTP header or gRPC metadata value,
   * `Bearer <key>`). Throws UnauthenticatedError (401 / UNAUTHENTICATED) when it is missing or wrong.
   */
  async authenticate(authorization: string | undefined | null): Promise<Principal> {
    if (this.mode === "off") return ANONYMOUS;
    if (!authorization)
      throw new UnauthenticatedError("an API key is required: send the header Authorization: Bearer <key>");
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match) throw new UnauthenticatedError("the Authorization header must be Bearer <key>");
    const key = match[1]!;
    const digest = createHash("sha256").update(key).digest("base64url");
    const now = Date.now();
    let entry = this.cache.get(digest);
    if (!entry || entry.until <= now) {
      let pending = this.inFlight.get(digest);
      if (!pending) {
        pending = this.verify(key).finally(() => this.inFlight.delete(digest));
        this.inFlight.set(digest, pending);
      }
      entry = await pending;
      this.remember(digest, entry);
    }
    if (!entry.principal) throw new UnauthenticatedError(entry.reason);
    return entry.principal;
  }

  private async verify(key: string): Promise<Cached> {
    const until = Date.now() + this.cacheMs;
    const refused = (reason: string): Cached => ({ principal: null, reason, until });
    const parsed = parseKey(key);
    if (!parsed) return refused("the API key is not a Taskstream key (tsk_<id>_<secret>)");
    const record = await this.keys!.find(parsed.id).catch((error: unknown) => {
      throw new TaskstreamError(
        "UNAVAILABLE",
        `cannot check the API key now: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
    if (!record) return refused("unknown API key");
    if (record.revokedAt) return refused(`API key ${record.id} was revoked`);
    await this.slot();
    let valid: boolean;
    try {
      valid = await verifySecret(parsed.secret, record.secretHash);
    } finally {
      this.release();
    }
    if (!valid) return refused("unknown API key");
    return {
      principal: Object.freeze({
        keyId: record.id,
        scopes: new Set(record.scopes),
        namespaces: record.namespaces.includes(ALL_NAMESPACES) ? ALL_NAMESPACES : new Set(record.namespaces),
        taskTypes: record.taskTypes ? new Set(record.taskTypes) : null,
      }),
      reason: "",
      until,
    };
  }

  private remember(digest: string, entry: Cached): void {
    this.cache.delete(digest);
    this.cache.set(digest, entry);
    // Oldest first: Map keeps insertion order, and a refreshed entry was re-inserted above.
    while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }

  private async slot(): Promise<void> {
    if (this.verifying < MAX_VERIFYING) {
      this.verifying++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.verifying--;
  }
}
