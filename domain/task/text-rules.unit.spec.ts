import { describe, expect, it } from "vitest";
import { identifierProblem, jsonProblem, MAX_JSON_DEPTH, storableText } from "./text-rules.ts";

describe("text rules", () => {
  it("refuse control characters and lone surrogates in identifiers, naming the character", () => {
    expect(identifierProblem("order-42")).toBeNull();
    expect(identifierProblem("zone: eu/west ✓")).toBeNull();
    expect(identifierProblem("a\u0000b")).toMatch(/control characters \(found U\+0000\)/);
    expect(identifierProblem("a\nb")).toMatch(/U\+000A/);
    expect(identifierProblem("a\u007fb")).toMatch(/U\+007F/);
    expect(identifierProblem("a\u0085b")).toMatch(/U\+0085/);
    expect(identifierProblem("a\ud800b")).toMatch(/lone UTF-16 surrogate/);
    expect(identifierProblem("😀")).toBeNull();
  });

  it("find NUL and lone surrogates anywhere in JSON, keys included, with the path", () => {
    expect(jsonProblem({ a: [1, "x", { b: null }], "😀": true })).toBeNull();
    expect(jsonProblem({ a: [1, "x\u0000"] })).toEqual({
      path: ".a[1]",
      reason: expect.stringMatching(/U\+0000/) as string,
    });
    expect(jsonProblem({ "bad key\u0000": 1 })?.path).toBe('["bad key\\u0000"]');
    expect(jsonProblem({ ok: { deep: ["\udc00"] } })?.path).toBe(".ok.deep[0]");
    expect(jsonProblem("\ud83d\ude00")).toBeNull();
  });

  it("bound the depth without recursion, at any depth", () => {
    let nested: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) nested = [nested];
    expect(jsonProblem(nested)).toBeNull();
    expect(jsonProblem([nested])?.reason).toMatch(/nests deeper than 64 levels/);
    let huge: unknown = null;
    for (let i = 0; i < 200_000; i++) huge = { a: huge };
    expect(jsonProblem(huge)?.reason).toMatch(/nests deeper/);
  });

  it("make free text storable and bounded", () => {
    expect(storableText("a\u0000b\ud800c", 100)).toBe("a\ufffdb\ufffdc");
    expect(storableText("x".repeat(10), 4)).toBe("xxxx…");
    expect(storableText("line one\nline two\ttab", 100)).toBe("line one\nline two\ttab");
  });
});
