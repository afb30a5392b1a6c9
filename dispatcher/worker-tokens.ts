import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Etcd3 } from "etcd3";

/**
 * Resume tokens: the proof that a Register naming a worker id comes from the worker that was given
 * that id, with the API key it registered with. A token is HMAC-SHA256(secret, workerId) — with
 * the key's id appended when authentication is on, so a worker identity is bound to its key and
 * another key cannot resume it even with its token — and every dispatcher of the cluster can check it
 * without shared session state — a worker resumes its identity at whichever dispatcher leads after
 * a failover. The secret is made once per cluster and kept in etcd; the worker id is a UUIDv7 the
 * dispatcher chose, so an id cannot be picked to collide with another worker's.
 */
export class WorkerTokens {
  readonly secret: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < 32) throw new Error("the worker token secret must be at least 32 bytes");
    this.secret = secret;
  }

  /** The token that proves `workerId`, registered with the key `keyId` (null: authentication off). */
  issue(workerId: string, keyId: string | null = null): string {
    const subject = keyId === null ? workerId : `${workerId}\u0000${keyId}`;
    return createHmac("sha256", this.secret).update(subject).digest("base64url");
  }

  /** Whether `token` proves `workerId` for the key `keyId` (constant time in the token's content). */
  verify(workerId: string, token: string, keyId: string | null = null): boolean {
    const expected = Buffer.from(this.issue(workerId, keyId));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /**
   * The cluster's tokens: the secret stored at `key` in etcd, created there (by one transaction, so
   * dispatchers starting together agree) when absent.
   */
  static async load(etcd: Etcd3, key: string): Promise<WorkerTokens> {
    const fresh = randomBytes(32).toString("base64");
    await etcd.if(key, "Create", "==", 0).then(etcd.put(key).value(fresh)).commit();
    const stored = await etcd.get(key).string();
    if (stored === null) throw new Error(`etcd lost the worker token secret at ${key}`);
    return new WorkerTokens(Buffer.from(stored, "base64"));
  }
}
