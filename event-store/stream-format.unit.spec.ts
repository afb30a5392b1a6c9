import { describe, expect, it } from "vitest";
import { parseEntry, parseEntryUnless } from "./stream-format.ts";

const fields = ["task", "t1", "v", "2", "type", "TaskAssigned", "data", '{"attempt":1}'];

describe("stream entry format", () => {
  it("reads a log entry: its stream id is its position in the log", () => {
    expect(parseEntry(3, ["10-0", fields])).toEqual({
      streamId: "10-0",
      partition: 3,
      taskId: "t1",
      version: 2,
      type: "TaskAssigned",
      data: { attempt: 1 },
      rawData: '{"attempt":1}',
    });
  });

  it("reads an intake entry: its stream id is the event's id in the log, not the intake's", () => {
    expect(parseEntry(3, ["99-1", [...fields, "id", "10-0"]]).streamId).toBe("10-0");
  });

  it("reads fields by name when they come in another order", () => {
    const reordered = ["id", "10-0", "data", "null", "type", "TaskStarted", "v", "3", "task", "t2"];
    expect(parseEntry(0, ["99-2", reordered])).toMatchObject({
      streamId: "10-0",
      taskId: "t2",
      version: 3,
      type: "TaskStarted",
      data: null,
    });
  });

  it("leaves out, unparsed, an entry the reader already holds", () => {
    const broken = ["task", "t1", "v", "2", "type", "TaskAssigned", "data", "{not json"];
    expect(parseEntryUnless(0, ["1-0", broken], (taskId, version) => taskId === "t1" && version <= 2)).toBe(
      null,
    );
    expect(() => parseEntryUnless(0, ["1-0", broken], () => false)).toThrow();
  });
});
