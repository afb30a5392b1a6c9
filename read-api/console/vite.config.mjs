import { defineConfig } from "vite";

// The web console (docs/console.md): Preact + uPlot + graphql-ws, built into dist/ and served by the
// read API at /ui. Nothing is loaded from another origin: the build bundles every dependency.
export default defineConfig({
  root: import.meta.dirname,
  base: "/ui/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Small enough to ship as one script and one stylesheet; no source maps in the served bundle.
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  logLevel: "warn",
});
