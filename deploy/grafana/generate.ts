import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { DASHBOARDS } from "./dashboards.ts";

/** A dashboard's file text: its JSON as the repository's formatter writes it. */
export async function dashboardText(file: string, build: () => object): Promise<string> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  return format(JSON.stringify(build()), { ...(await resolveConfig(path)), filepath: path });
}

/** `node deploy/grafana/generate.ts`: writes every dashboard of dashboards.ts next to this file. */
if (import.meta.main) {
  for (const [file, build] of Object.entries(DASHBOARDS)) {
    await writeFile(new URL(file, import.meta.url), await dashboardText(file, build));
    console.log(`wrote deploy/grafana/${file}`);
  }
}
