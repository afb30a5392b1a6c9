import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

interface Rule {
  alert?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe("alert rules", () => {
  it("each alert has a severity and a runbook that is a section of docs/operations.md", async () => {
    const file = parse(await readFile(new URL("./taskstream.rules.yaml", import.meta.url), "utf8")) as {
      groups: { rules: Rule[] }[];
    };
    const guide = await readFile(new URL("../../docs/operations.md", import.meta.url), "utf8");
    const sections = new Set(
      [...guide.matchAll(/^#{2,4} (\S+)\s*$/gm)].map(([, title]) => title!.toLowerCase()),
    );
    const alerts = file.groups.flatMap((group) => group.rules).filter((rule) => rule.alert);
    expect(alerts.length).toBeGreaterThan(10);
    for (const { alert, labels, annotations } of alerts) {
      expect(["critical", "warning"], alert).toContain(labels?.severity);
      expect(annotations?.summary, alert).toBeTruthy();
      const anchor = alert!.toLowerCase();
      expect(annotations?.runbook, alert).toBe(`docs/operations.md#${anchor}`);
      expect(sections.has(anchor), `docs/operations.md has no section "### ${alert}"`).toBe(true);
    }
  });
});
