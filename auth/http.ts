import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Authenticator } from "./authenticator.ts";
import { ANONYMOUS, requireScope, type Principal, type Scope } from "./principal.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Who sent the request (set by httpAuthentication before any handler runs). */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** The scope a route needs beyond authentication (checked before its handler). */
    scope?: Scope;
  }
}

export interface HttpAuthOptions {
  authenticator: Authenticator;
  /** Paths anyone may reach: health, readiness, the GraphiQL page (its queries still authenticate). */
  isPublic(path: string): boolean;
}

/**
 * Authentication for every HTTP route of the server: `Authorization: Bearer <key>` is checked before
 * any handler runs (401 UNAUTHENTICATED otherwise), and a route's `config.scope` after it (403
 * PERMISSION_DENIED). A WebSocket upgrade is left to the GraphQL subscription handshake, which
 * authenticates the header or the `connection_init` payload (read-api/plugin.ts): a browser cannot
 * set headers on a WebSocket.
 */
export async function httpAuthentication(app: FastifyInstance, options: HttpAuthOptions): Promise<void> {
  app.decorateRequest("principal", {
    getter() {
      return (this as unknown as { _principal?: Principal })._principal ?? ANONYMOUS_UNCHECKED;
    },
    setter(value: Principal) {
      (this as unknown as { _principal?: Principal })._principal = value;
    },
  });
  app.addHook("onRequest", async (request: FastifyRequest) => {
    const path = request.url.split("?")[0]!;
    if (options.isPublic(path)) return;
    if (request.headers.upgrade?.toLowerCase() === "websocket") return;
    request.principal = await options.authenticator.authenticate(request.headers.authorization);
    const scope = request.routeOptions.config.scope;
    if (scope) requireScope(request.principal, scope);
  });
}

/** Before authentication ran (public routes): no scope, no namespace. */
const ANONYMOUS_UNCHECKED: Principal = Object.freeze({
  ...ANONYMOUS,
  scopes: new Set<Scope>(),
  namespaces: new Set<string>(),
});

// The hook must apply to every route of the server, not only inside a plugin context of its own.
Object.assign(httpAuthentication, { [Symbol.for("skip-override")]: true });
