import type { Scenario } from "../scenario.ts";
import { fleetScenarios } from "./fleet.ts";
import { outcomeScenarios } from "./outcomes.ts";
import { processScenarios } from "./processes.ts";
import { timingScenarios } from "./timing.ts";

/** Every scenario of SPEC.md, in the order of its table (the rows of the suite's table). */
export const SCENARIOS: Scenario[] = (() => {
  const all = [...outcomeScenarios, ...timingScenarios, ...processScenarios, ...fleetScenarios];
  const order = [
    "happy path",
    "retry after failure",
    "non-retryable failure",
    "heartbeat details carried",
    "heartbeat timeout",
    "cancellation",
    "deadline",
    "graceful shutdown",
    "reconnection",
    "redelivery after kill",
    "result too large",
    "labels routing",
    "progress heartbeats",
  ];
  const byName = new Map(all.map((scenario) => [scenario.name, scenario]));
  if (byName.size !== order.length || order.some((name) => !byName.has(name)))
    throw new Error("the scenario list and SPEC.md's order disagree");
  return order.map((name) => byName.get(name)!);
})();
