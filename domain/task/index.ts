export * from "./spec.ts";
export * from "./events.ts";
export * from "./commands.ts";
export * from "./state.ts";
export * from "./decide.ts";
export * from "./errors.ts";
export * from "./retry.ts";
export * from "./partition.ts";
