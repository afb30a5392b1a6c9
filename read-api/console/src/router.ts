import { useEffect, useState } from "preact/hooks";

/** The console lives under /ui; routes are paths below it, with the query string for filters. */
const BASE = "/ui";

export interface Route {
  path: string;
  params: URLSearchParams;
}

const listeners = new Set<() => void>();
const current = (): Route => ({
  path: location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) || "/" : "/",
  params: new URLSearchParams(location.search),
});

addEventListener("popstate", () => listeners.forEach((l) => l()));

/** Goes to a console path ("/tasks?state=QUEUED"); `replace` keeps the history entry. */
export function navigate(to: string, replace = false): void {
  const url = BASE + (to.startsWith("/") ? to : `/${to}`);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((l) => l());
  if (!replace) scrollTo(0, 0);
}

/** The current route; re-renders on navigation. */
export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return route;
}

/** The href of a console path, for links that open in a new tab too. */
export const href = (to: string): string => BASE + to;
