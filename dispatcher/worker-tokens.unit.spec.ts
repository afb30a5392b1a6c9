import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { WorkerTokens } from "./worker-tokens.ts";

describe("worker resume tokens", () => {
  const tokens = new WorkerTokens(randomBytes(32));

  it("prove the worker id they were issued for, and no other", () => {
    const token = tokens.issue("0193f0c0-0000-7000-8000-000000000001");
    expect(tokens.verify("0193f0c0-0000-7000-8000-000000000001", token)).toBe(true);
    expect(tokens.verify("0193f0c0-0000-7000-8000-000000000002", token)).toBe(false);
  });

  it("refuse empty, truncated and altered tokens", () => {
    const id = "0193f0c0-0000-7000-8000-000000000001";
    const token = tokens.issue(id);
    expect(tokens.verify(id, "")).toBe(false);
    expect(tokens.verify(id, token.slice(1))).toBe(false);
    const altered = (token[0] === "A" ? "B" : "A") + token.slice(1);
    expect(tokens.verify(id, altered)).toBe(false);
  });

  it("differ between clusters (secrets)", () => {
    const other = new WorkerTokens(randomBytes(32));
    const id = "0193f0c0-0000-7000-8000-000000000001";
    expect(other.verify(id, tokens.issue(id))).toBe(false);
  });
});
