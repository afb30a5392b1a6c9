import { describe, expect, it } from "vitest";
import type { WorkerMessage } from "../../../proto/gen/taskstream/v1/workers.ts";
import { Outbox, dropRedundantStarts } from "../src/outbox.ts";

type Msg = NonNullable<WorkerMessage["msg"]>;

const started = (taskId: string, attempt = 1): Msg => ({ $case: "started", value: { taskId, attempt } });
const completed = (taskId: string, attempt = 1): Msg => ({
  $case: "completed",
  value: { taskId, attempt, resultJson: "" },
});
const failed = (taskId: string, attempt = 1): Msg => ({
  $case: "failed",
  value: { taskId, attempt, message: "m", errorType: "E", nonRetryable: false, cancelled: false },
});
const progress = (taskId: string, attempt = 1): Msg => ({
  $case: "progress",
  value: { taskId, attempt, detailsJson: "{}" },
});
const heartbeat: Msg = { $case: "heartbeat", value: { active: [] } };
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("dropRedundantStarts", () => {
  it("drops a start whose attempt's result is in the same flush and keeps everything else in order", () => {
    const messages = [started("a"), started("b"), heartbeat, completed("a"), started("c"), failed("b")];
    expect(dropRedundantStarts(messages)).toEqual([heartbeat, completed("a"), started("c"), failed("b")]);
  });

  it("keeps the start of another attempt of the same task, and one whose attempt reported progress", () => {
    const messages = [started("a", 2), completed("a", 1), started("p"), progress("p"), completed("p")];
    expect(dropRedundantStarts(messages)).toEqual(messages);
  });

  it("keeps a start whose result comes in a later flush", () => {
    expect(dropRedundantStarts([started("a")])).toEqual([started("a")]);
  });
});

describe("Outbox", () => {
  it("writes everything pushed in one event-loop turn together, once, at the end of the turn", async () => {
    const writes: Msg[][] = [];
    const outbox = new Outbox((messages) => writes.push(messages));
    outbox.impliedStarts = true;
    outbox.push(started("a"));
    outbox.push(started("b"));
    outbox.push(completed("a"));
    expect(writes).toEqual([]);
    expect(outbox.size).toBe(3);
    await turn();
    expect(writes).toEqual([[started("b"), completed("a")]]);
    outbox.push(completed("b"));
    await turn();
    expect(writes).toEqual([[started("b"), completed("a")], [completed("b")]]);
    await turn();
    expect(writes).toHaveLength(2);
  });

  it("flushes at once on demand and does not write the same messages again", async () => {
    const writes: Msg[][] = [];
    const outbox = new Outbox((messages) => writes.push(messages));
    outbox.push(progress("a"));
    outbox.flush();
    expect(writes).toEqual([[progress("a")]]);
    outbox.flush();
    await turn();
    expect(writes).toHaveLength(1);
  });
});
