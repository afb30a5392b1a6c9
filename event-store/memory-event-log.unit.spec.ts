import { eventLogContract } from "./event-log.contract.ts";
import { MemoryEventLog } from "./memory-event-log.ts";

eventLogContract("in memory", () => {
  let now = Date.parse("2030-01-01T00:00:00.000Z");
  return {
    make: (options) => new MemoryEventLog({ ...options, now: () => now }),
    elapse: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  };
});
