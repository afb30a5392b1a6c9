import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConcurrencyError, StaleEpochError } from "../domain/task/index.ts";
import { luaPreamble, REPLY, replyError } from "./reply-codes.ts";

const lua = new URL("./lua/", import.meta.url);
const scripts = readdirSync(lua).filter((name) => name.endsWith(".lua"));

describe("script reply codes", () => {
  it("are defined for every script by the preamble, each once", () => {
    const preamble = luaPreamble();
    for (const [name, code] of Object.entries(REPLY)) expect(preamble).toContain(`local ${name} = ${code}\n`);
    expect(new Set(Object.values(REPLY)).size).toBe(Object.keys(REPLY).length);
  });

  it("are never written as bare numbers in a script's answers", () => {
    for (const name of scripts) {
      const code = readFileSync(new URL(name, lua), "utf8").replace(/--\[\[[\s\S]*?\]\]/g, "");
      // A reply is a table literal a script returns or collects: its first element is the code.
      expect(code, name).not.toMatch(/(return|=)\s*\{\s*-?\d/);
    }
  });

  it("map refusals to typed errors", () => {
    expect(replyError(REPLY.VERSION_CONFLICT, "7", { taskId: "t", expectedVersion: 5 })).toBeInstanceOf(
      ConcurrencyError,
    );
    const stale = replyError(REPLY.STALE_EPOCH, "9", { epoch: 4 });
    expect(stale).toBeInstanceOf(StaleEpochError);
    expect(stale.message).toMatch(/epoch 4 is lower than 9/);
    expect(replyError(42, "x", {}).code).toBe("UNAVAILABLE");
  });
});
