import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createReadModelFixture,
  newTaskId,
  on,
  type ReadModelFixture,
} from "./testing/read-model-fixture.ts";
import { TasksProjector } from "./tasks-projector.ts";
import { projectionBacklogAgeSeconds } from "./backlog-age.ts";

describe("projection backlog age", () => {
  let fx: ReadModelFixture;
  beforeEach(async () => (fx = await createReadModelFixture("backlogage")));
  afterEach(async () => fx.close());

  it("is the age of the oldest unprojected event, growing while nothing projects, and 0 once caught up", async () => {
    const projector = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool });
    const age = (now: number) => projectionBacklogAgeSeconds(fx.store, fx.pool, projector.checkpointKey, now);
    expect(await age(Date.now())).toBe(0);

    const before = Date.now();
    await fx.store.append(newTaskId(), 0, [on.submitted(before)]);
    await fx.store.append(newTaskId(), 0, [on.submitted(before)]);
    const after = Date.now();
    // Nothing projected yet (no checkpoint rows at all): the oldest event's age, as time goes on.
    const later = after + 60_000;
    expect(await age(later)).toBeGreaterThanOrEqual((later - after) / 1000);
    expect(await age(later)).toBeLessThanOrEqual((later - before + 1) / 1000);
    expect(await age(later + 30_000)).toBeGreaterThan(await age(later));

    expect(await projector.catchUp()).toBe(2);
    expect(await age(later)).toBe(0);
  });
});
