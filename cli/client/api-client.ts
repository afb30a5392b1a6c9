import type { FieldError } from "../../domain/task/index.ts";

/**
 * The client side of the operator verbs: REST and GraphQL calls to a running Taskstream, whose
 * failures become `ApiError`s (status, code, message, fields) that the CLI prints in one line.
 */

/** Where the server is: `--url`, else TASKSTREAM_URL, else the local default port. */
export function serverUrl(flag: string | undefined, env = process.env): string {
  const url =
    flag ??
    env.TASKSTREAM_URL ??
    env.TASKSTREAM_API_URL ??
    `http://127.0.0.1:${env.TASKSTREAM_HTTP_PORT ?? "8080"}`;
  return url.replace(/\/+$/, "");
}

/** The server answered with an error (an HTTP status ≥ 400, or GraphQL errors). */
export class ApiError extends Error {
  readonly status: number | null;
  readonly code: string;
  readonly fields: FieldError[];
  constructor(message: string, status: number | null, code: string, fields: FieldError[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** One line (and a line per bad field): what failed, and the status and code that say how. */
  describe(): string {
    const status = this.status === null ? this.code : `${this.status} ${this.code}`;
    // Each bad field on a line of its own, unless the message already says them all.
    const said = this.fields.every((f) => this.message.includes(`${f.field}: ${f.reason}`));
    const fields = said ? "" : this.fields.map((f) => `\n  ${f.field}: ${f.reason}`).join("");
    return `${this.message} [${status}]${fields}`;
  }
}

/** The server could not be reached at all (refused, unknown host, reset). */
export class UnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    const reason =
      cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
    super(`cannot reach Taskstream at ${url} (${reason}); give --url or TASKSTREAM_URL`);
    this.name = "UnreachableError";
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string; fields?: FieldError[] };
}

interface GraphqlError {
  message: string;
  extensions?: { code?: string; status?: number; fields?: FieldError[] };
}

export class ApiClient {
  readonly url: string;
  private readonly apiKey: string | undefined;
  constructor(url: string, apiKey?: string) {
    this.url = url;
    this.apiKey = apiKey;
  }

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = {};
    if (json) headers["content-type"] = "application/json";
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  /** A REST call; the parsed JSON answer, or an ApiError with the server's code and fields. */
  async rest<T>(method: string, path: string, body?: unknown): Promise<T> {
    // State-changing calls always say JSON (the API refuses them otherwise; docs/http-security.md).
    const sendsBody = body !== undefined || method !== "GET";
    const response = await this.fetch(`${this.url}${path}`, {
      method,
      headers: this.headers(sendsBody),
      body: sendsBody ? JSON.stringify(body ?? {}) : undefined,
    });
    const parsed = await readJson(response);
    if (!response.ok) {
      const error = (parsed as ErrorBody | null)?.error;
      throw new ApiError(
        error?.message ?? response.statusText ?? "request failed",
        response.status,
        error?.code ?? "HTTP_ERROR",
        error?.fields ?? [],
      );
    }
    return parsed as T;
  }

  /** A GraphQL query or mutation; its data, or an ApiError from the first error. */
  async graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const response = await this.fetch(`${this.url}/graphql`, {
      method: "POST",
      headers: this.headers(true),
      body: JSON.stringify({ query, variables }),
    });
    const parsed = (await readJson(response)) as { data?: T; errors?: GraphqlError[] } | null;
    const first = parsed?.errors?.[0];
    if (first) {
      const status = first.extensions?.status ?? (response.ok ? null : response.status);
      throw new ApiError(
        first.message,
        status,
        first.extensions?.code ?? "GRAPHQL_ERROR",
        first.extensions?.fields,
      );
    }
    if (!response.ok || !parsed?.data)
      throw new ApiError(response.statusText || "no data", response.status, "HTTP_ERROR");
    return parsed.data;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (error) {
      throw new UnreachableError(this.url, error);
    }
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // A proxy's HTML page, or not Taskstream at all: say what came back.
    throw new ApiError(`not a JSON answer: ${text.slice(0, 120)}`, response.status, "NOT_JSON");
  }
}
