import { buildSchema, parse, validate, type GraphQLError } from "graphql";
import { describe, expect, it } from "vitest";
import { queryLimitsRule, DEFAULT_QUERY_LIMITS } from "./query-cost.ts";

const schema = buildSchema(`
  type Event { version: Int! }
  type Task { id: ID! events(first: Int = 100): [Event!]! }
  type Edge { node: Task! }
  type Connection { edges: [Edge!]! }
  type Query { tasks(first: Int = 50): Connection! workers: [Task!]! task(id: ID!): Task }
`);

const errors = (query: string, variables: Record<string, unknown> = {}): readonly GraphQLError[] =>
  validate(schema, parse(query), [queryLimitsRule(DEFAULT_QUERY_LIMITS, variables)]);

describe("query cost", () => {
  it("multiplies nested lists by their first, defaults included", () => {
    expect(errors("{ tasks(first: 500) { edges { node { id events(first: 100) { version } } } } }")).toEqual(
      [],
    );
    const tooMany = errors("{ tasks(first: 500) { edges { node { id events(first: 300) { version } } } } }");
    expect(tooMany[0]?.message).toMatch(/more than 100000 objects/);
  });

  it("counts a list without first as 100 elements, and unknown fields and meta fields for depth", () => {
    expect(errors("{ workers { events(first: 500) { version } } }")).toEqual([]);
    expect(errors("{ workers { events(first: 1001) { version } } }")[0]?.message).toMatch(/objects/);
    let nested = "leaf";
    for (let i = 0; i < 13; i++) nested = `n${i} { ${nested} }`;
    expect(errors(`{ ${nested} }`)[0]?.message).toMatch(/deeper than 12/);
  });

  it("reads first from variables and caps aliases and fields", () => {
    expect(
      errors("query ($n: Int) { tasks(first: $n) { edges { node { events(first: 500) { version } } } } }", {
        n: 500,
      }),
    ).toHaveLength(1);
    const aliases = Array.from({ length: 51 }, (_, i) => `a${i}: task(id: "x") { id }`).join(" ");
    expect(errors(`{ ${aliases} }`)[0]?.message).toMatch(/more than 50 aliases/);
    const fields = Array.from({ length: 2001 }, () => "id").join(" ");
    expect(errors(`{ task(id: "x") { ${fields} } }`)[0]?.message).toMatch(/more than 2000 fields/);
  });

  it("expands fragments, each counted where it is spread, and survives a fragment cycle", () => {
    const spread = "fragment F on Task { events(first: 500) { version } }";
    expect(errors(`{ tasks(first: 100) { edges { node { ...F } } } } ${spread}`)).toEqual([]);
    expect(errors(`{ tasks(first: 300) { edges { node { ...F } } } } ${spread}`)[0]?.message).toMatch(
      /objects/,
    );
    // The spec's own rule reports the cycle; the cost walk must only not loop.
    const cyclic = '{ task(id: "x") { ...A } } fragment A on Task { ...B } fragment B on Task { ...A }';
    expect(() => errors(cyclic)).not.toThrow();
  });
});
