import type { FastifyContextConfig } from "fastify";
import { z } from "zod";

/** How one route appears in the OpenAPI document: its request schemas are the ones that validate it. */
export interface RouteDocs {
  summary: string;
  description?: string;
  tags: string[];
  /** The schema the handler (or the command layer) parses the body with. */
  body?: z.ZodType;
  /** The schema the handler parses the query string with. */
  querystring?: z.ZodType;
  /** Each status the route answers, with the shape of its JSON body (none for an empty body). */
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** The route's OpenAPI description (commands/http/openapi/plugin.ts reads it). */
    openapi?: RouteDocs;
  }
}

/**
 * Route options that document a route. Only `params` is a Fastify schema (validated by Fastify, as
 * before); bodies and query strings stay validated by zod in the command layer, which names every bad
 * field (docs/input-rules.md), so their schemas are carried in `config` and turned into JSON Schema
 * for the document alone: documenting a route changes nothing about how it answers. `config` is the
 * rest of the route's config (the scope it needs, auth/http.ts), merged beside its description.
 */
export function documented<C extends Omit<FastifyContextConfig, "openapi">>(
  docs: RouteDocs,
  params?: object,
  config?: C,
) {
  return {
    schema: { summary: docs.summary, tags: docs.tags, ...(params ? { params } : {}) },
    config: { ...config, openapi: docs } as C & { openapi: RouteDocs },
  };
}

/** A zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect), for requests (`input`) or answers (`output`). */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" });
  return rest;
}
