import { credentials } from "@grpc/grpc-js";
import { WorkerServiceClient, type DispatcherMessage } from "../../proto/gen/taskstream/v1/workers.ts";
import { now } from "../stats.ts";

/** When the probe got in, and when its first assignment arrived (ms, `now()`). */
export interface FirstDispatch {
  registeredAt: number;
  assignedAt: number;
  /** Connections the dispatcher turned away before it led. */
  refused: number;
}

/**
 * A worker speaking the raw protocol that knocks on one dispatcher every `retryMs` until it is let
 * in (the dispatcher leads and has rebuilt), and resolves with its first assignment. The SDK's
 * reconnect backoff (up to 5 s) would blur a takeover measured in milliseconds; this does not.
 * Unless `serve` is set it never reports (its attempts are retried once it has gone) and hangs up at
 * its first assignment; with `serve` it stays connected after it and completes every assignment
 * `serve.delayMs` after receiving it, so that each partition an owner takes over later can dispatch
 * to it too. `cancel` hangs up.
 */
export function firstDispatch(
  address: string,
  type: string,
  options: { retryMs?: number; timeoutMs: number; slots?: number; serve?: { delayMs: number } },
): { done: Promise<FirstDispatch>; cancel: () => void; completed: () => number } {
  const client = new WorkerServiceClient(address, credentials.createInsecure());
  const retryMs = options.retryMs ?? 10;
  let refused = 0;
  let registeredAt = 0;
  let finished = false;
  let current: ReturnType<WorkerServiceClient["connect"]> | null = null;
  let retry: NodeJS.Timeout | null = null;
  let resolveDone!: (value: FirstDispatch) => void;
  let rejectDone!: (error: Error) => void;
  const done = new Promise<FirstDispatch>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  let first: FirstDispatch | null = null;
  let completed = 0;
  const hangUp = () => {
    finished = true;
    clearTimeout(timer);
    if (retry) clearTimeout(retry);
    current?.cancel();
    client.close();
  };
  const finish = (error: Error | null, value?: FirstDispatch) => {
    if (finished) return;
    if (error) {
      hangUp();
      if (!first) rejectDone(error);
      return;
    }
    if (first) return;
    first = value!;
    resolveDone(first);
    if (options.serve) clearTimeout(timer);
    else hangUp();
  };
  const timer = setTimeout(
    () => finish(new Error(`no assignment from ${address} within ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );
  const attempt = () => {
    retry = null;
    if (finished) return;
    const call = client.connect();
    current = call;
    const receive = (message: DispatcherMessage) => {
      if (message.msg?.$case === "registered") registeredAt = now();
      if (message.msg?.$case !== "assignment") return;
      finish(null, { registeredAt, assignedAt: now(), refused });
      const serve = options.serve;
      if (!serve) return;
      const { taskId, attempt } = message.msg.value;
      setTimeout(() => {
        if (finished || current !== call) return;
        call.write({ msg: { $case: "started", value: { taskId, attempt } } });
        call.write({ msg: { $case: "completed", value: { taskId, attempt, resultJson: "{}" } } });
        completed++;
      }, serve.delayMs).unref();
    };
    call.on("data", (message: DispatcherMessage) => {
      if (message.msg?.$case === "batch") message.msg.value.messages.forEach(receive);
      else receive(message);
    });
    const again = () => {
      if (finished || current !== call) return;
      current = null;
      refused++;
      retry = setTimeout(attempt, retryMs);
    };
    call.on("error", again);
    call.on("end", again);
    call.write({
      msg: {
        $case: "register",
        value: {
          workerId: "",
          resumeToken: "",
          name: "takeover-probe",
          types: [type],
          labels: {},
          slots: options.slots ?? 10,
          sdk: "bench/probe",
          active: [],
          acceptsBatches: true,
        },
      },
    });
  };
  attempt();
  return { done, cancel: () => finish(new Error("cancelled")), completed: () => completed };
}
