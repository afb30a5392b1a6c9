import { parseArgs } from "node:util";
import pg from "pg";
import { ValidationError } from "../../domain/task/index.ts";
import { KeyStore, type ApiKeyRecord } from "../../auth/key-store.ts";
import { CONFIG_OPTIONS, loadConfig } from "../config.ts";
import { migrateUrl } from "./migrate.ts";

const USAGE =
  "taskstream keys create --namespace NS[,NS…|*] --scopes submit,read,cancel,admin,worker [--task-types T,…] [--name TEXT] [--json]\n" +
  "taskstream keys list [--json]\n" +
  "taskstream keys revoke ID";

const list = (value: string | undefined) =>
  (value ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);

/**
 * `taskstream keys`: API keys, made, listed and revoked directly in PostgreSQL (whoever can reach
 * the database is trusted: this is how the first key is made). The secret is printed once.
 */
export async function keys(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONFIG_OPTIONS,
      namespace: { type: "string", multiple: true },
      scopes: { type: "string" },
      "task-types": { type: "string" },
      name: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const [action, ...rest] = positionals;
  const { namespace: _namespaces, ...settings } = values;
  const config = loadConfig(settings);
  await migrateUrl(config.pgUrl);
  const pool = new pg.Pool({ connectionString: config.pgUrl, max: 2 });
  const store = new KeyStore(pool);
  try {
    switch (action) {
      case "create": {
        const { record, key } = await store.create({
          name: values.name ?? "",
          namespaces: (values.namespace ?? []).flatMap(list),
          scopes: list(values.scopes),
          taskTypes: values["task-types"] === undefined ? null : list(values["task-types"]),
        });
        if (values.json) console.log(JSON.stringify({ ...record, key }));
        else {
          console.log(key);
          console.error(`${describe(record)}\nThe key is shown only now: keep it, it cannot be read again.`);
        }
        return;
      }
      case "list": {
        const all = await store.list();
        if (values.json) console.log(JSON.stringify(all));
        else for (const record of all) console.log(describe(record));
        return;
      }
      case "revoke": {
        const [id] = rest;
        if (!id) throw new ValidationError([{ field: "ID", reason: `is required: ${USAGE.split("\n")[2]}` }]);
        console.log(describe(await store.revoke(id)));
        return;
      }
      case undefined:
      default:
        throw new ValidationError([{ field: "action", reason: `must be create, list or revoke:\n${USAGE}` }]);
    }
  } finally {
    await pool.end();
  }
}

function describe(record: ApiKeyRecord): string {
  const types = record.taskTypes ? ` task-types=${record.taskTypes.join(",")}` : "";
  const state = record.revokedAt ? `revoked ${record.revokedAt.toISOString()}` : "active";
  const name = record.name ? ` "${record.name}"` : "";
  return `${record.id}${name} ${state} namespaces=${record.namespaces.join(",")} scopes=${record.scopes.join(",")}${types} created ${record.createdAt.toISOString()}`;
}
