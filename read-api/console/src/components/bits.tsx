import type { ComponentChildren } from "preact";

/** A task state as a coloured badge (colour is never the only cue: the name is written). */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge s-${state.toLowerCase()}`}>{state.replace("_", " ")}</span>;
}

/** An error for people, with what to do when it is known. */
export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

/** A titled box of the overview. */
export function Card(props: { title: string; children: ComponentChildren; wide?: boolean }) {
  return (
    <section class={props.wide ? "card wide" : "card"} aria-label={props.title}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** A number with its label. */
export function Figure(props: { label: string; value: string; tone?: string }) {
  return (
    <div class={`figure ${props.tone ?? ""}`}>
      <span class="value">{props.value}</span>
      <span class="label">{props.label}</span>
    </div>
  );
}

/** A pre-formatted JSON block. */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" aria-label={label} tabIndex={0}>
      {value === null || value === undefined ? "null" : JSON.stringify(value, null, 2)}
    </pre>
  );
}
