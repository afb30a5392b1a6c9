export * from "./events.ts";
export * from "./commands.ts";
export * from "./state.ts";
export * from "./cron.ts";
export * from "./catch-up.ts";
export * from "./decide.ts";
