/**
 * Who caused an event, stored with it in a compact text form (docs/security.md, "The actor on
 * record"). Events written before actors were recorded have none (null).
 *
 *   k:<key id>                an API key (a producer, an operator)
 *   a                         anyone: authentication was off (development on loopback)
 *   w:<worker id>/<session>   a worker's report; session: the dispatcher hosting its stream
 *   d:<epoch>                 the partition owner's own decision (assignment, timeout, lost worker)
 *   s:<epoch>                 the scheduler, leading with that epoch (a schedule's firing)
 */
export type Actor =
  | { kind: "key"; keyId: string }
  | { kind: "anonymous" }
  | { kind: "worker"; workerId: string; session: string }
  | { kind: "dispatcher"; epoch: number }
  | { kind: "scheduler"; epoch: number };

/** The stored form of an actor. */
export function formatActor(actor: Actor): string {
  switch (actor.kind) {
    case "key":
      return `k:${actor.keyId}`;
    case "anonymous":
      return "a";
    case "worker":
      return `w:${actor.workerId}/${actor.session}`;
    case "dispatcher":
      return `d:${actor.epoch}`;
    case "scheduler":
      return `s:${actor.epoch}`;
    default: {
      const unknown: never = actor;
      return unknown;
    }
  }
}

/** An actor from its stored form; null for none (events written before actors) or an unknown form. */
export function parseActor(stored: string | null | undefined): Actor | null {
  if (!stored) return null;
  if (stored === "a") return { kind: "anonymous" };
  const kind = stored.slice(0, 2);
  const rest = stored.slice(2);
  switch (kind) {
    case "k:":
      return rest ? { kind: "key", keyId: rest } : null;
    case "w:": {
      const slash = rest.lastIndexOf("/");
      return slash > 0
        ? { kind: "worker", workerId: rest.slice(0, slash), session: rest.slice(slash + 1) }
        : null;
    }
    case "d:":
    case "s:": {
      const epoch = Number(rest);
      if (!Number.isSafeInteger(epoch)) return null;
      return kind === "d:" ? { kind: "dispatcher", epoch } : { kind: "scheduler", epoch };
    }
    default:
      return null;
  }
}

/** One line for people: `key k7f3…`, `worker 0190…/x1y2`, `dispatcher epoch 42`. */
export function describeActor(stored: string | null | undefined): string {
  const actor = parseActor(stored);
  if (!actor) return stored ? `unknown (${stored})` : "not recorded";
  switch (actor.kind) {
    case "key":
      return `key ${actor.keyId}`;
    case "anonymous":
      return "anonymous (authentication off)";
    case "worker":
      return `worker ${actor.workerId} session ${actor.session}`;
    case "dispatcher":
      return `dispatcher epoch ${actor.epoch}`;
    case "scheduler":
      return `scheduler epoch ${actor.epoch}`;
    default: {
      const unknown: never = actor;
      return unknown;
    }
  }
}

/** The stored actor of an event (its data's `actor`), or null when it has none. */
export function actorOf(event: { data: unknown }): string | null {
  const actor = (event.data as { actor?: unknown } | null)?.actor;
  return typeof actor === "string" ? actor : null;
}
