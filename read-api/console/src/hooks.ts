import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { connection, gql, subscribe } from "./graphql.ts";

export interface QueryState<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  /** Asks again now (coalesced with a request in flight). */
  refresh: () => void;
}

/**
 * A query run when its variables change, again on `refresh()`, and every `pollMs` while the page is
 * visible; not before `enabled`. The last answer stays on screen while the next is on its way.
 */
export function useQuery<T>(
  query: string,
  variables: Record<string, unknown> = {},
  pollMs = 0,
  enabled = true,
): QueryState<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const key = JSON.stringify(variables);
  const inFlight = useRef(false);
  const again = useRef(false);
  const run = useCallback(() => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    gql<T>(query, JSON.parse(key) as Record<string, unknown>)
      .then(
        (data) => setState({ data, error: null, loading: false }),
        (error: Error) => setState((s) => ({ ...s, error: error.message, loading: false })),
      )
      .finally(() => {
        inFlight.current = false;
        if (again.current) {
          again.current = false;
          run();
        }
      });
  }, [query, key]);
  useEffect(() => {
    if (!enabled) return;
    setState((s) => ({ ...s, loading: true }));
    run();
    if (!pollMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") run();
    }, pollMs);
    return () => clearInterval(timer);
  }, [run, pollMs, enabled]);
  return { ...state, refresh: enabled ? run : () => undefined };
}

/** A subscription for the life of the component (and while `enabled`); resumes after reconnects. */
export function useSubscription<T>(
  query: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
  enabled = true,
): void {
  const handler = useRef(onData);
  handler.current = onData;
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (!enabled) return;
    return subscribe<T>(
      query,
      () => JSON.parse(key) as Record<string, unknown>,
      (data) => handler.current(data),
    );
  }, [query, key, enabled]);
}

/** One event of the task feed, as the console asks for it. */
export interface FeedEvent {
  cursor: string;
  taskId: string;
  version: number;
  type: string;
  queue: string;
  state: string;
  at: string;
}

const FEED = `subscription ($filter: TaskEventFilter, $after: String) {
  taskEvents(filter: $filter, after: $after) { cursor taskId version type queue state at }
}`;

/**
 * The task feed, live from `from` (a cursor; null: from now; undefined: not yet). After a reconnect
 * it resumes from the last event received (no gap, no duplicate: the server replays what it
 * missed), so what is built from it stays right.
 */
export function useTaskFeed(
  filter: Record<string, unknown> | null,
  onEvent: (event: FeedEvent) => void,
  from: string | null | undefined = null,
): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = JSON.stringify(filter);
  useEffect(() => {
    if (from === undefined) return;
    let cursor: string | null = from;
    return subscribe<{ taskEvents: FeedEvent }>(
      FEED,
      () => ({ filter: JSON.parse(key) as unknown, after: cursor }),
      ({ taskEvents }) => {
        cursor = taskEvents.cursor;
        handler.current(taskEvents);
      },
    );
  }, [key, from]);
}

/** Whether the live connection is up. */
export function useLive(): boolean {
  const [live, setLive] = useState(connection.live);
  useEffect(() => {
    connection.listeners.add(setLive);
    // It may have connected between the first render and now: no listener heard that.
    setLive(connection.live);
    return () => void connection.listeners.delete(setLive);
  }, []);
  return live;
}

/** Calls `work` at most once per `ms` (trailing), for refreshes triggered by live events. */
export function useThrottle(work: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(work);
  latest.current = work;
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}

const HEAD = `query ($filter: TaskEventFilter) { recentEvents(first: 1, filter: $filter) { endCursor } }`;

/**
 * A query kept current by the task feed, with nothing missed in between: it first takes the feed's
 * position now, then runs the query, then follows the feed (filtered by `feedFilter`) from that
 * position and asks again (at most every `throttleMs`) whenever a matching event is projected. A
 * change committed while the query ran or before the subscription was up is replayed by the feed,
 * so the page cannot stay behind the read model.
 */
export function useLiveQuery<T>(
  query: string,
  variables: Record<string, unknown>,
  feedFilter: Record<string, unknown> | null,
  throttleMs = 300,
): QueryState<T> {
  const head = useQuery<{ recentEvents: { endCursor: string } }>(HEAD, { filter: feedFilter });
  const cursor = head.data?.recentEvents.endCursor;
  const state = useQuery<T>(query, variables, 0, cursor !== undefined);
  const soon = useThrottle(state.refresh, throttleMs);
  useTaskFeed(feedFilter, soon, cursor);
  return state;
}
