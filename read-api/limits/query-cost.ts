import {
  GraphQLError,
  Kind,
  valueFromASTUntyped,
  type ASTVisitor,
  type FieldNode,
  type GraphQLField,
  type GraphQLOutputType,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
} from "graphql";

// Types are told apart by shape, not `instanceof`: the schema may come from another copy of the
// graphql module than this file's (CommonJS for Mercurius, ESM here under some loaders).
type Unwrappable = { ofType?: unknown };
const namedType = (type: unknown): unknown => {
  let named = type as Unwrappable | undefined;
  while (named?.ofType !== undefined) named = named.ofType as Unwrappable;
  return named;
};
const fieldsOf = (type: unknown): Record<string, GraphQLField<unknown, unknown>> | undefined =>
  typeof (type as { getFields?: unknown } | undefined)?.getFields === "function"
    ? (type as { getFields(): Record<string, GraphQLField<unknown, unknown>> }).getFields()
    : undefined;
/** `[T]` or `[T]!`. */
const isList = (type: unknown): boolean => String(type).replace(/!$/, "").startsWith("[");

/** Bounds on one GraphQL document; see docs/graphql-limits.md. */
export interface QueryLimits {
  /** Most objects the query may ask for, lists multiplied by their `first` (estimated before it runs). */
  maxNodes: number;
  /** Most aliased fields in one document. */
  maxAliases: number;
  /** Most field selections in one document, fragments expanded. */
  maxFields: number;
  /** Deepest nesting of selections. */
  maxDepth: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxNodes: 100_000,
  maxAliases: 50,
  maxFields: 2_000,
  maxDepth: 12,
};

/** The size assumed for a list that takes no `first` argument (workers, byState, backlog…). */
const UNBOUNDED_LIST_SIZE = 100;

/** What walking a document found. */
export interface QueryCost {
  nodes: number;
  aliases: number;
  fields: number;
  depth: number;
}

/**
 * Estimates what an operation asks for before it runs, the way GitHub's node limit does: every
 * object resolved counts 1, and a list counts its `first` (or its declared default, or 100) times
 * what each element asks for, so aliases and nested lists multiply. Fragments are expanded (a cycle
 * is left to the spec's own rule); the walk stops as soon as a limit is passed.
 */
export function queryCost(
  schema: GraphQLSchema,
  selectionSet: SelectionSetNode,
  rootType: GraphQLOutputType,
  fragments: (
    name: string,
  ) => { selectionSet: SelectionSetNode; typeCondition: { name: { value: string } } } | undefined,
  variables: Record<string, unknown>,
  limits: QueryLimits,
): QueryCost {
  const cost: QueryCost = { nodes: 0, aliases: 0, fields: 0, depth: 0 };
  const over = () =>
    cost.nodes > limits.maxNodes ||
    cost.aliases > limits.maxAliases ||
    cost.fields > limits.maxFields ||
    cost.depth > limits.maxDepth;

  /** The nodes one element of `type` asks for through `set`; `visiting` guards fragment cycles. */
  const walk = (
    set: SelectionSetNode,
    type: GraphQLOutputType,
    depth: number,
    visiting: Set<string>,
  ): number => {
    cost.depth = Math.max(cost.depth, depth);
    const parent = namedType(type);
    let nodes = 0;
    for (const selection of set.selections) {
      if (over()) return nodes;
      if (selection.kind === Kind.FIELD) {
        nodes += fieldNodes(selection, parent, depth, visiting);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition
          ? (schema.getType(selection.typeCondition.name.value) ?? parent)
          : parent;
        nodes += walk(selection.selectionSet, on as GraphQLOutputType, depth, visiting);
      } else {
        const name = selection.name.value;
        const fragment = fragments(name);
        if (!fragment || visiting.has(name)) continue;
        const on = schema.getType(fragment.typeCondition.name.value) ?? parent;
        nodes += walk(fragment.selectionSet, on as GraphQLOutputType, depth, new Set([...visiting, name]));
      }
    }
    return nodes;
  };

  const fieldNodes = (field: FieldNode, parent: unknown, depth: number, visiting: Set<string>): number => {
    cost.fields++;
    if (field.alias) cost.aliases++;
    if (!field.selectionSet) return 0;
    const definition = fieldsOf(parent)?.[field.name.value] ?? metaField(schema, field.name.value);
    // A field the schema does not know (the spec's rules report it): its selections still count.
    if (!definition) return 1 + walk(field.selectionSet, undefined as never, depth + 1, visiting);
    const perElement = 1 + walk(field.selectionSet, definition.type, depth + 1, visiting);
    return listSize(definition, field, variables) * perElement;
  };

  cost.nodes = walk(selectionSet, rootType, 1, new Set());
  return cost;
}

/** The introspection fields every query type has, which `getFields()` leaves out. */
function metaField(schema: GraphQLSchema, name: string): GraphQLField<unknown, unknown> | undefined {
  const type = name === "__schema" ? "__Schema" : name === "__type" ? "__Type" : null;
  const named = type === null ? undefined : schema.getType(type);
  return named ? ({ name, type: named, args: [] } as unknown as GraphQLField<unknown, unknown>) : undefined;
}

/** How many elements a field asks for: 1 for an object, `first` (or a default) for a list. */
function listSize(
  definition: GraphQLField<unknown, unknown>,
  field: FieldNode,
  variables: Record<string, unknown>,
): number {
  const firstArgument = definition.args.find((arg) => arg.name === "first");
  const given = field.arguments?.find((arg) => arg.name.value === "first");
  const asked: unknown = given ? valueFromASTUntyped(given.value, variables) : undefined;
  const value = asked ?? firstArgument?.defaultValue;
  if (firstArgument) return typeof value === "number" && value > 0 ? value : UNBOUNDED_LIST_SIZE;
  // A connection's `edges` is a list whose length its parent's `first` already counted.
  return isList(definition.type) && definition.name !== "edges" ? UNBOUNDED_LIST_SIZE : 1;
}

/**
 * A validation rule refusing operations past the limits, with a message naming the limit and the
 * estimate; `variables` are the request's (a `first: $n` counts as its value).
 */
export function queryLimitsRule(limits: QueryLimits, variables: Record<string, unknown> = {}) {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(node) {
      const schema = context.getSchema();
      const roots = {
        query: schema.getQueryType(),
        mutation: schema.getMutationType(),
        subscription: schema.getSubscriptionType(),
      };
      const root = roots[node.operation];
      if (!root) return;
      const cost = queryCost(
        schema,
        node.selectionSet,
        root,
        (name) => context.getFragment(name) ?? undefined,
        variables,
        limits,
      );
      const refuse = (message: string) =>
        context.reportError(
          new GraphQLError(message, { nodes: node, extensions: { code: "QUERY_TOO_COMPLEX" } }),
        );
      if (cost.depth > limits.maxDepth) refuse(`query nests deeper than ${limits.maxDepth} levels`);
      else if (cost.aliases > limits.maxAliases) refuse(`query uses more than ${limits.maxAliases} aliases`);
      else if (cost.fields > limits.maxFields) refuse(`query selects more than ${limits.maxFields} fields`);
      else if (cost.nodes > limits.maxNodes)
        refuse(
          `query may return more than ${limits.maxNodes} objects (lists count their \`first\`); ask for smaller pages or fewer fields`,
        );
    },
  });
}
