// Type-aware ESLint for the whole TypeScript tree.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      ".tools/",
      ".services/",
      ".conformance/",
      "**/dist/",
      "proto/gen/",
      "sdk/go/",
      "sdk/python/",
      "coverage/",
      ".scratch/",
      "read-api/console/dist/",
      "tests/output/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      // Fastify plugins and handlers are async by contract, awaiting or not.
      "@typescript-eslint/require-await": "off",
    },
  },
  { files: ["**/*.js", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
  // Import boundaries (docs/architecture.md): dependencies point one way. Tests and benchmarks may
  // reach anywhere to set a scene; production code may not.
  ...boundaries([
    ["domain/**", "the domain imports nothing of ours", /^(\.\.\/){2,}/],
    [
      "{auth,event-store,queues,observability,projections,dispatcher,migrations}/**",
      "commands/, read-api/ and cli/ are not libraries",
      /^(\.\.\/)+(commands|read-api|cli)\//,
    ],
    [
      "read-api/**",
      "the read API reaches the command side through command-ports.ts",
      /^(\.\.\/)+(commands|cli)\//,
    ],
    [
      "commands/**",
      "the command side does not import the read side or the CLI",
      /^(\.\.\/)+(read-api|cli)\//,
    ],
    ["sdk/typescript/src/**", "the SDK is a package of its own: only @taskstream/protocol", /^(\.\.\/){2,}/],
  ]),
);

/** One override per rule: files, why, and the import paths they may not use. */
function boundaries(rules) {
  return rules.map(([files, message, regex]) => ({
    files: [files],
    ignores: ["**/*.spec.ts", "**/testing/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ regex: regex.source, message }] }] },
  }));
}
