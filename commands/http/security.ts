import cors from "@fastify/cors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { originAllowed, sameOrigin, type OriginPolicy } from "./origins.ts";

/** Media types a state-changing request may carry: a browser cannot send these cross-site without a preflight. */
const STATE_CHANGING_TYPES = /^application\/(json|graphql|[\w.+-]+\+json)\s*(;|$)/i;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Cross-site protection for every HTTP route (docs/http-security.md):
 *
 * - CORS answers only origins the policy allows; preflights from others get no CORS headers, so the
 *   browser refuses the request. With no origins configured, CORS is off.
 * - A state-changing request (POST, PUT, PATCH, DELETE) must carry a JSON (or GraphQL) content type,
 *   which no page can send to another origin without a preflight — unless it comes from an origin
 *   the policy allows or from the server's own pages. A bodyless cross-site form or fetch POST is
 *   refused with 415 before any handler runs.
 * - A JSON request may have an empty body (`POST /v1/tasks/{id}/cancel`).
 */
export async function httpSecurity(app: FastifyInstance, policy: OriginPolicy): Promise<void> {
  await app.register(cors, {
    origin: (origin, callback) => callback(null, origin !== undefined && originAllowed(origin, policy)),
    methods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
    allowedHeaders: ["content-type", "authorization", "traceparent", "tracestate"],
    maxAge: 600,
  });
  app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    if (SAFE_METHODS.has(request.method)) return;
    const type = request.headers["content-type"];
    if (type !== undefined && STATE_CHANGING_TYPES.test(type)) return;
    const origin = request.headers.origin;
    if (origin !== undefined && (originAllowed(origin, policy) || sameOrigin(origin, request.headers.host)))
      return;
    return reply.status(415).send({
      error: {
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: `${request.method} requests must send Content-Type: application/json (even with an empty body)`,
      },
    });
  });
  const json = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") return done(null, undefined);
    return json(request, text, done);
  });
}

// Its hooks, CORS and parser must apply to every route of the server, not only inside a plugin
// context of its own (what fastify-plugin does).
Object.assign(httpSecurity, { [Symbol.for("skip-override")]: true });
