import { expect } from "vitest";

/** An Emmett-style decider: pure decision, pure evolution and a starting state. */
export interface Decider<Command, Event, State> {
  decide: (command: Command, state: State) => Event[];
  evolve: (state: State, event: Event) => State;
  initialState: () => State;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any constructor, whatever its parameters
export type ErrorClass<E extends Error> = new (...args: any[]) => E;

export interface WhenClause<Event> {
  /** The command yields exactly these events, in this order. */
  then(expected: Event[]): void;
  /** The command is refused with an error of this class (and, when given, one the predicate accepts). */
  thenThrows<E extends Error>(errorClass: ErrorClass<E>, predicate?: (error: E) => boolean): void;
  /** The command is accepted but changes nothing: no events. */
  thenNothing(): void;
}

/** Given a history, when a command is decided, then these events (or this error, or nothing). */
export const DeciderSpec = {
  for<Command, Event, State>({ decide, evolve, initialState }: Decider<Command, Event, State>) {
    return {
      given: (events: Event[]) => ({
        when(command: Command): WhenClause<Event> {
          const run = () => decide(command, events.reduce(evolve, initialState()));
          return {
            then: (expected) => expect(run()).toStrictEqual(expected),
            thenNothing: () => expect(run()).toStrictEqual([]),
            thenThrows<E extends Error>(errorClass: ErrorClass<E>, predicate?: (error: E) => boolean) {
              let produced: Event[];
              try {
                produced = run();
              } catch (error) {
                expect(error).toBeInstanceOf(errorClass);
                if (predicate)
                  expect(predicate(error as E), `predicate rejected ${String(error)}`).toBe(true);
                return;
              }
              expect.fail(`expected ${errorClass.name} but the command yielded ${JSON.stringify(produced)}`);
            },
          };
        },
      }),
    };
  },
};
