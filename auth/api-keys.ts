import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * API keys: `tsk_<id>_<secret>`. The id (12 characters) names the key in lists, logs and the actor
 * of every event it causes; the secret (32 random bytes, base64url) is shown once, when the key is
 * made, and stored only as a scrypt hash with a salt of its own.
 */
const KEY = /^tsk_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** scrypt's cost: N = 2^14, r = 8 (16 MiB, tens of ms); verifications are cached (authenticator.ts). */
const COST: ScryptOptions = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const HASH_BYTES = 32;

export interface NewKey {
  id: string;
  /** The whole key, as the client sends it. Shown once. */
  key: string;
  secret: string;
}

/** A fresh key: a random id and secret. */
export function generateKey(): NewKey {
  const bytes = randomBytes(12);
  const id = Array.from(bytes, (b) => ID_ALPHABET[b & 31]).join("");
  const secret = randomBytes(32).toString("base64url");
  return { id, secret, key: `tsk_${id}_${secret}` };
}

/** The id and secret of a key as a client sent it, or null when it is not in the key format. */
export function parseKey(key: string): { id: string; secret: string } | null {
  const match = KEY.exec(key);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

/** The stored form of a secret: `scrypt$N$r$p$<salt>$<hash>`, base64url. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(secret, salt, COST);
  return ["scrypt", COST.N, COST.r, COST.p, salt.toString("base64url"), hash.toString("base64url")].join("$");
}

/** Whether `secret` matches a stored hash (constant time in the hash). */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await derive(secret, Buffer.from(salt, "base64url"), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: COST.maxmem,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function derive(secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, HASH_BYTES, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}
