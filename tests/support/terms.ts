import type { Dispatcher } from "../../dispatcher/dispatcher.ts";
import type { Term } from "../../dispatcher/term.ts";

/** The dispatcher's partition terms (one per owned partition). */
export function termsOf(dispatcher: Dispatcher): Term[] {
  return [...dispatcher.owner.terms.values()];
}

/** Ready tasks per priority over every partition the dispatcher owns. */
export function readyDepth(dispatcher: Dispatcher): number[] {
  const depth = new Array<number>(10).fill(0);
  for (const term of termsOf(dispatcher))
    term.ready.depthByPriority().forEach((n, p) => (depth[p] = (depth[p] ?? 0) + n));
  return depth;
}

/** Ready tasks over every partition the dispatcher owns. */
export function readySize(dispatcher: Dispatcher): number {
  return termsOf(dispatcher).reduce((sum, term) => sum + term.ready.size, 0);
}
