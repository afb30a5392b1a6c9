import { parseArgs } from "node:util";
import { ValidationError } from "../../domain/task/index.ts";

/**
 * Operator verbs that talk to a running Taskstream over its HTTP API (`--api`, default the local
 * one), with the API key in TASKSTREAM_API_KEY when the server requires one.
 */
const apiOption = { api: { type: "string" as const } };
const apiBase = (value: string | undefined) =>
  (
    value ??
    process.env.TASKSTREAM_API_URL ??
    `http://127.0.0.1:${process.env.TASKSTREAM_HTTP_PORT ?? "8080"}`
  ).replace(/\/$/, "");

async function call(method: string, url: string, body?: unknown): Promise<unknown> {
  // State-changing calls always say JSON (the API refuses them otherwise; docs/http-security.md).
  const sendsBody = body !== undefined || method !== "GET";
  const headers: Record<string, string> = sendsBody ? { "content-type": "application/json" } : {};
  // The API key, when the server requires one (docs/security.md).
  const key = process.env.TASKSTREAM_API_KEY;
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(url, {
    method,
    headers,
    body: sendsBody ? JSON.stringify(body ?? {}) : undefined,
  });
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${response.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

export async function submit(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...apiOption,
      payload: { type: "string" },
      priority: { type: "string" },
      key: { type: "string" },
      "run-at": { type: "string" },
      namespace: { type: "string" },
    },
  });
  const [type] = positionals;
  if (!type)
    throw new ValidationError([
      { field: "TYPE", reason: "is required: taskstream submit TYPE [--payload JSON]" },
    ]);
  const body: Record<string, unknown> = { type };
  if (values.namespace !== undefined) body.namespace = values.namespace;
  if (values.payload !== undefined) body.payload = JSON.parse(values.payload);
  if (values.priority !== undefined) body.priority = Number(values.priority);
  if (values.key !== undefined) body.idempotencyKey = values.key;
  if (values["run-at"] !== undefined) body.runAt = values["run-at"];
  print(await call("POST", `${apiBase(values.api)}/v1/tasks`, body));
}

export async function get(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: apiOption });
  print(await call("GET", `${apiBase(values.api)}/v1/tasks/${encodeURIComponent(requireId(positionals))}`));
}

export async function cancel(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...apiOption, reason: { type: "string" } },
  });
  print(
    await call(
      "POST",
      `${apiBase(values.api)}/v1/tasks/${encodeURIComponent(requireId(positionals))}/cancel`,
      { reason: values.reason ?? "cancelled by operator" },
    ),
  );
}

export async function list(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...apiOption,
      namespace: { type: "string" },
      state: { type: "string" },
      type: { type: "string" },
      first: { type: "string" },
    },
  });
  const filter: Record<string, string> = {};
  if (values.namespace) filter.namespace = values.namespace;
  if (values.state) filter.state = values.state;
  if (values.type) filter.type = values.type;
  const query = `query($filter: TaskFilter, $first: Int) { tasks(filter: $filter, first: $first) { edges { node { id namespace type state priority attempt updatedAt } } pageInfo { hasNextPage endCursor } } }`;
  const result = (await call("POST", `${apiBase(values.api)}/graphql`, {
    query,
    variables: { filter, first: Number(values.first ?? 20) },
  })) as {
    data?: { tasks: { edges: { node: Record<string, unknown> }[] } };
    errors?: unknown;
  };
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  console.table(result.data?.tasks.edges.map((edge) => edge.node));
}

function requireId(positionals: string[]): string {
  const [id] = positionals;
  if (!id) throw new ValidationError([{ field: "ID", reason: "is required" }]);
  return id;
}
