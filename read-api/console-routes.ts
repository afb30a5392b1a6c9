import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";

/** Where `npm run console:build` (Vite) writes the console: read-api/console/dist. */
export const CONSOLE_DIST = fileURLToPath(new URL("./console/dist/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

// The console talks only to this server (GraphQL over HTTP and WebSocket); nothing else may load.
const CSP = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** Every file of the build, by its path below /ui/ (read once: the set is small and fixed). */
function loadBuild(dir: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else
        files.set(relative(dir, path).split("\\").join("/"), {
          body: readFileSync(path),
          type: TYPES[extname(name)] ?? "application/octet-stream",
        });
    }
  };
  walk(dir);
  return files;
}

/**
 * The web console at /ui (docs/console.md): the files Vite built, from memory. Paths that are not
 * files are the console's own routes (/ui/tasks/…), answered with its page. Hashed assets are
 * cached for good; the page itself is always asked again. Without a build, /ui says how to make one.
 */
export async function consoleRoutes(app: FastifyInstance, options: { dist?: string } = {}): Promise<void> {
  const dist = options.dist ?? CONSOLE_DIST;
  const files = existsSync(join(dist, "index.html")) ? loadBuild(dist) : null;
  const send = (reply: FastifyReply, path: string) => {
    if (!files)
      return reply
        .status(503)
        .type("text/plain; charset=utf-8")
        .send(
          "The console is not built: run `npm run console:build` (npm start and npm test do it when needed).\n",
        );
    const file = files.get(path);
    const page = file ?? files.get("index.html")!;
    // A missing asset is a 404, not the page: a stale tab must not run HTML as a script.
    if (!file && path.startsWith("assets/")) return reply.callNotFound();
    return reply
      .header("content-security-policy", CSP)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "same-origin")
      .header(
        "cache-control",
        file && path.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache",
      )
      .type(page.type)
      .send(page.body);
  };
  app.get("/ui", (_request, reply) => reply.redirect("/ui/"));
  app.get<{ Params: { "*": string } }>("/ui/*", (request, reply) =>
    send(reply, request.params["*"] || "index.html"),
  );
}
