import { defineConfig } from "vitest/config";

// Three tiers, each runnable alone: `vitest run --project unit|int|e2e`.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["**/*.unit.spec.ts"], exclude: ["node_modules/**", ".tools/**"] } },
      {
        test: {
          name: "int",
          include: ["**/*.int.spec.ts"],
          exclude: ["node_modules/**", ".tools/**"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          globalSetup: ["tests/support/global-setup.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["**/*.e2e.spec.ts"],
          exclude: ["node_modules/**", ".tools/**"],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          globalSetup: ["tests/support/global-setup.ts"],
        },
      },
    ],
  },
});
