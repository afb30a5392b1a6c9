import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { FastifyInstance } from "fastify";

const require = createRequire(import.meta.url);

/** The browser files GraphiQL needs, served from this server's own packages (no CDN: it works offline). */
const VENDOR: Record<string, { file: string; type: string }> = {
  "react.js": { file: "react/umd/react.production.min.js", type: "application/javascript" },
  "react-dom.js": { file: "react-dom/umd/react-dom.production.min.js", type: "application/javascript" },
  "graphiql.js": { file: "graphiql/graphiql.min.js", type: "application/javascript" },
  "graphiql.css": { file: "graphiql/graphiql.min.css", type: "text/css" },
};

/** Where Mercurius' GraphiQL page loads its files from, and where this server serves them. */
const CDN_TO_LOCAL: [string, string][] = [
  ["https://unpkg.com/graphiql@3.8.3/graphiql.min.css", "/graphiql/vendor/graphiql.css"],
  ["https://unpkg.com/react@18.3.1/umd/react.production.min.js", "/graphiql/vendor/react.js"],
  ["https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js", "/graphiql/vendor/react-dom.js"],
  ["https://unpkg.com/graphiql@3.8.3/graphiql.min.js", "/graphiql/vendor/graphiql.js"],
];

const PAGE = `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8"/>
  <title>Taskstream GraphiQL</title>
  <meta name="robots" content="noindex"/>
  <meta name="viewport" content="width=device-width, initial-scale=1"/>
  <style>body { margin: 0; overflow: hidden; } #main { height: 100vh; }</style>
</head>
<body>
  <div id="main"></div>
  <script src="/graphiql/config.js"></script>
  <script src="/graphiql/main.js"></script>
</body>
</html>`;

/**
 * Mercurius' GraphiQL script (its fetcher speaks HTTP and WebSocket subscriptions) with every CDN
 * address replaced by this server's, and without its service worker, which caches CDN files. Throws
 * at start-up when an address is no longer where it was expected: a Mercurius upgrade must not
 * silently bring the CDN back.
 */
export function offlineGraphiqlScript(): string {
  let script = readFileSync(packageFile("mercurius/static/main.js"), "utf8");
  for (const [cdn, local] of CDN_TO_LOCAL) {
    if (!script.includes(cdn)) throw new Error(`GraphiQL: Mercurius' main.js no longer loads ${cdn}`);
    script = script.replaceAll(cdn, local);
  }
  script = script.replace("if ('serviceWorker' in navigator)", "if (false)");
  if (/https?:\/\//.test(script.replace(/\/\/ .*$/gm, "")))
    throw new Error("GraphiQL: Mercurius' main.js loads from an address this server does not serve");
  return script;
}

/** A file inside an installed package, whatever its `exports` allow (`react/umd/…`). */
function packageFile(path: string): string {
  const [name, ...rest] = path.split("/");
  return join(dirname(require.resolve(`${name}/package.json`)), ...rest);
}

/** GraphiQL at /graphiql, entirely from this server. */
export async function graphiqlRoutes(app: FastifyInstance): Promise<void> {
  const script = offlineGraphiqlScript();
  const files = Object.fromEntries(
    Object.entries(VENDOR).map(([name, { file, type }]) => [
      name,
      { body: readFileSync(packageFile(file)), type },
    ]),
  );
  app.get("/graphiql", (_request, reply) => reply.type("text/html").send(PAGE));
  app.get("/graphiql/main.js", (_request, reply) => reply.type("application/javascript").send(script));
  app.get("/graphiql/config.js", (_request, reply) =>
    reply
      .type("application/javascript")
      .send("window.GRAPHQL_ENDPOINT = '/graphql';\nwindow.GRAPHIQL_PLUGIN_LIST = [];"),
  );
  app.get<{ Params: { name: string } }>("/graphiql/vendor/:name", (request, reply) => {
    const file = Object.hasOwn(files, request.params.name) ? files[request.params.name] : undefined;
    if (!file) return reply.callNotFound();
    return reply.type(file.type).header("cache-control", "public, max-age=86400").send(file.body);
  });
}
