import { describe, expect, it } from "vitest";
import { generateKey, hashSecret, parseKey, verifySecret } from "./api-keys.ts";
import { Authenticator } from "./authenticator.ts";
import type { ApiKeyRecord } from "./key-store.ts";
import { checkGrant } from "./key-store.ts";
import { ANONYMOUS, resolveNamespace, visibleNamespaces, type Principal } from "./principal.ts";

async function storeWith(...records: (Partial<ApiKeyRecord> & { id: string; secret: string })[]) {
  const rows = await Promise.all(
    records.map(async ({ secret, ...record }) => ({
      name: "",
      namespaces: ["*"],
      scopes: ["read" as const],
      taskTypes: null,
      createdAt: new Date(0),
      revokedAt: null,
      ...record,
      secretHash: await hashSecret(secret),
    })),
  );
  let lookups = 0;
  return {
    get lookups() {
      return lookups;
    },
    find: async (id: string) => {
      lookups++;
      return rows.find((row) => row.id === id) ?? null;
    },
  };
}

describe("API keys", () => {
  it("are tsk_<id>_<secret>, and only the right secret matches the stored hash", async () => {
    const key = generateKey();
    expect(key.key).toMatch(/^tsk_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
    expect(parseKey(key.key)).toEqual({ id: key.id, secret: key.secret });
    expect(parseKey(`${key.key}x`)).toBeNull();
    const hash = await hashSecret(key.secret);
    expect(hash).not.toContain(key.secret);
    expect(await verifySecret(key.secret, hash)).toBe(true);
    expect(await verifySecret(generateKey().secret, hash)).toBe(false);
    expect(await verifySecret(key.secret, "plain$text")).toBe(false);
  });

  it("grants name every bad field", () => {
    expect(() =>
      checkGrant({ namespaces: ["Bad_NS", "ok"], scopes: ["read", "root"], taskTypes: ["a b"] }),
    ).toThrow(/namespace: "Bad_NS".*scopes: "root" is not one of.*task-types: "a b"/);
    expect(checkGrant({ namespaces: ["b", "a", "*"], scopes: ["read"] }).namespaces).toEqual(["*"]);
  });
});

describe("Authenticator", () => {
  it("lets everyone in as ANONYMOUS when authentication is off", async () => {
    const auth = new Authenticator({ mode: "off", keys: null });
    expect(await auth.authenticate(undefined)).toBe(ANONYMOUS);
  });

  it("refuses missing, malformed, unknown, wrong and revoked keys with a reason", async () => {
    const good = generateKey();
    const revoked = generateKey();
    const keys = await storeWith(
      { id: good.id, secret: good.secret, scopes: ["submit"], namespaces: ["acme"] },
      { id: revoked.id, secret: revoked.secret, revokedAt: new Date(1) },
    );
    const auth = new Authenticator({ mode: "required", keys });
    await expect(auth.authenticate(undefined)).rejects.toThrow(/API key is required/);
    await expect(auth.authenticate("Basic abc")).rejects.toThrow(/Bearer/);
    await expect(auth.authenticate("Bearer nope")).rejects.toThrow(/not a Taskstream key/);
    await expect(auth.authenticate(`Bearer ${generateKey().key}`)).rejects.toThrow(/unknown API key/);
    await expect(auth.authenticate(`Bearer tsk_${good.id}_${generateKey().secret}`)).rejects.toThrow(
      /unknown API key/,
    );
    await expect(auth.authenticate(`Bearer ${revoked.key}`)).rejects.toThrow(/revoked/);
    const principal: Principal = await auth.authenticate(`bearer  ${good.key}`);
    expect(principal.keyId).toBe(good.id);
    expect([...principal.scopes]).toEqual(["submit"]);
    expect(resolveNamespace(principal, undefined)).toBe("acme");
    expect(() => resolveNamespace(principal, "other")).toThrow(/may not use namespace "other"/);
    expect(visibleNamespaces(principal)).toEqual(["acme"]);
  });

  it("checks a key once per cache period, also when asked concurrently", async () => {
    const key = generateKey();
    const keys = await storeWith({ id: key.id, secret: key.secret });
    const auth = new Authenticator({ mode: "required", keys, cacheMs: 60_000 });
    await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(`Bearer ${key.key}`)));
    await auth.authenticate(`Bearer ${key.key}`);
    expect(keys.lookups).toBe(1);
  });
});
