import { defineConfig } from "vitest/config";

// Three tiers, each runnable alone: `vitest run --project unit|int|e2e`; and the cluster tier
// (`npm run test:cluster`): the chaos specs of tests/cluster and the log's contract, the dispatcher's
// failover and a whole lifecycle, against a Redis Cluster and a three-member etcd.
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
      {
        test: {
          name: "cluster",
          include: [
            "tests/cluster/**/*.cluster.spec.ts",
            "event-store/redis-event-log.int.spec.ts",
            "event-store/layout.int.spec.ts",
            "dispatcher/failover.int.spec.ts",
            "tests/e2e/lifecycle.e2e.spec.ts",
          ],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          globalSetup: ["tests/support/global-setup.ts", "tests/support/cluster-setup.ts"],
        },
      },
    ],
  },
});
