import { GraphQLError } from "graphql";

/** A position in the id (creation) order of tasks; the id alone fixes it, createdAt rides along. */
export interface TaskCursor {
  createdAt: number;
  id: string;
}

/** Opaque to clients: base64url of "createdAtMs:id". */
export function encodeCursor(cursor: TaskCursor): string {
  return Buffer.from(`${cursor.createdAt}:${cursor.id}`).toString("base64url");
}

/** Reads a cursor given as `after`; anything not made by encodeCursor is a GraphQL error naming `after`. */
export function decodeCursor(after: string): TaskCursor {
  const match = /^(\d{1,15}):(.+)$/s.exec(Buffer.from(after, "base64url").toString("utf8"));
  if (!match || !/^[\w-]+$/.test(after)) {
    throw new GraphQLError("after: not a cursor from this API (use a pageInfo.endCursor)", {
      extensions: { code: "BAD_USER_INPUT", argument: "after" },
    });
  }
  return { createdAt: Number(match[1]), id: match[2]! };
}
