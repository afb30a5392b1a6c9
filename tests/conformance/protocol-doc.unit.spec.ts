import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const PROTO = readFileSync(new URL("../../proto/taskstream/v1/workers.proto", import.meta.url), "utf8");
const DOC = readFileSync(new URL("../../docs/worker-protocol.md", import.meta.url), "utf8");

/** The messages of a proto file with their fields (oneof members included), and its rpcs. */
function parseProto(text: string): { messages: Map<string, string[]>; rpcs: string[] } {
  const messages = new Map<string, string[]>();
  const rpcs: string[] = [];
  // Blocks open and close on braces; only messages collect fields (a oneof's belong to its message).
  const scopes: { kind: string; name: string }[] = [];
  const code = text.replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
  for (const token of code.match(/[^{};]+[{;]|}/g) ?? []) {
    const statement = token.trim();
    if (statement === "}") {
      scopes.pop();
      continue;
    }
    const block = /^(message|oneof|service|enum)\s+(\w+)\s*\{$/.exec(statement);
    if (block) {
      scopes.push({ kind: block[1]!, name: block[2]! });
      if (block[1] === "message") messages.set(block[2]!, []);
      continue;
    }
    const rpc = /^rpc\s+(\w+)\s*\(/.exec(statement);
    if (rpc) {
      rpcs.push(rpc[1]!);
      continue;
    }
    const field = /^(?:repeated\s+|optional\s+)?(?:map\s*<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+/.exec(statement);
    const message = scopes.findLast((scope) => scope.kind === "message");
    if (field && message) messages.get(message.name)!.push(field[1]!);
  }
  return { messages, rpcs };
}

/** The doc's sections: each heading with the text up to the next heading of any level. */
function sections(markdown: string): { heading: string; body: string }[] {
  return markdown.split(/^(?=#{1,6} )/m).map((part) => ({ heading: part.split("\n", 1)[0]!, body: part }));
}

/**
 * docs/worker-protocol.md must keep up with workers.proto: every message has a section of its own
 * (a heading naming it in backticks) that mentions each of its fields in backticks, so a field added
 * to the proto fails this test until the document says what it means.
 */
describe("docs/worker-protocol.md covers workers.proto", () => {
  const { messages, rpcs } = parseProto(PROTO);

  it("reads the proto (so an empty parse cannot pass)", () => {
    expect(messages.size).toBeGreaterThanOrEqual(15);
    expect(messages.get("Register")).toEqual(expect.arrayContaining(["worker_id", "resume_token", "active"]));
    expect(messages.get("WorkerMessage")).toEqual(expect.arrayContaining(["register", "batch"]));
    expect(rpcs).toEqual(["Connect"]);
  });

  it("names the service and its rpc", () => {
    expect(DOC).toContain("WorkerService/Connect");
  });

  for (const [message, fields] of parseProto(PROTO).messages) {
    it(`has a section on ${message} that mentions each of its fields`, () => {
      const section = sections(DOC).find(({ heading }) => heading.includes(`\`${message}\``));
      expect(section, `no heading names \`${message}\``).toBeDefined();
      const missing = fields.filter((field) => !section!.body.includes(`\`${field}\``));
      expect(missing, `fields of ${message} the section does not mention`).toEqual([]);
    });
  }

  it("explains every reason a report can be refused", () => {
    for (const reason of [
      "STALE_ATTEMPT",
      "TASK_TERMINAL",
      "NOT_ASSIGNED",
      "WRONG_WORKER",
      "DUPLICATE",
      "NOT_FOUND",
    ])
      expect(DOC).toContain(`\`${reason}\``);
  });
});
