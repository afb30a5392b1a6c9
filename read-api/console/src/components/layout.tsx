import type { ComponentChildren } from "preact";
import { useLive } from "../hooks.ts";
import { href, navigate, useRoute } from "../router.ts";

const PAGES: [path: string, label: string][] = [
  ["/", "Overview"],
  ["/tasks", "Tasks"],
  ["/dead-letters", "Dead letters"],
  ["/workers", "Workers"],
  ["/queues", "Queues"],
  ["/schedules", "Schedules"],
];

/** A link inside the console: a real href (new tab works), navigated in place on a plain click. */
export function Link(props: { to: string; children: ComponentChildren; class?: string; current?: boolean }) {
  return (
    <a
      href={href(props.to)}
      class={props.class}
      aria-current={props.current ? "page" : undefined}
      onClick={(event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
        event.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}

/** The frame of every page: a skip link, the navigation, the live-connection state and the content. */
export function Layout(props: { children: ComponentChildren }) {
  const { path } = useRoute();
  const live = useLive();
  const section = PAGES.slice(1).find(([p]) => path.startsWith(p))?.[0] ?? "/";
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link to="/" class="brand">
          Taskstream
        </Link>
        <nav aria-label="Console">
          {PAGES.map(([to, label]) => (
            <Link key={to} to={to} current={section === to}>
              {label}
            </Link>
          ))}
        </nav>
        <span class={live ? "live on" : "live"} role="status" title="Live updates over WebSocket">
          {live ? "live" : "connecting…"}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}
