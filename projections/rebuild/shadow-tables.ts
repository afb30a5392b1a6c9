import { IllegalStateError } from "../../domain/task/index.ts";
import type { Queryable } from "../task-table.ts";
import type { ReadModelRelations } from "./read-models.ts";

/** An identifier, double-quoted; only the plain names Taskstream uses are accepted. */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new IllegalStateError(`not a plain SQL name: "${name}"`);
  return `"${name}"`;
}

/** A search_path of plain schema names, as a connection option takes it (no quotes, no spaces). */
export function searchPath(...schemas: string[]): string {
  for (const schema of schemas) ident(schema);
  return schemas.join(",");
}

/** `schema.name`, both quoted. */
export const qualified = (schema: string, name: string): string => `${ident(schema)}.${ident(name)}`;

/** The schema of the fresh tables and the one the replaced tables move to, beside `live`. */
export function rebuildSchemas(live: string): { shadow: string; replaced: string } {
  const names = { shadow: `${live}_rebuild`, replaced: `${live}_replaced` };
  for (const name of Object.values(names))
    if (name.length > 63)
      throw new IllegalStateError(`schema "${live}": its rebuild schema "${name}" is longer than 63 bytes`);
  return names;
}

const relationOid = async (db: Queryable, schema: string, name: string) => {
  const { rows } = await db.query<{ oid: number; relkind: string }>(
    `select c.oid, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname = $2`,
    [schema, name],
  );
  return rows[0];
};

/**
 * Refuses a read model a rebuild could not replace whole: a declared table that is missing or not a
 * plain table, or has triggers, row security or foreign keys (none of which are copied); a declared
 * view that is missing; a view anywhere that reads a declared table but is not declared itself (it
 * would go on reading the replaced table).
 */
export async function checkReadModel(db: Queryable, live: string, model: ReadModelRelations): Promise<void> {
  const problems: string[] = [];
  const oids: number[] = [];
  for (const table of model.tables) {
    const found = await relationOid(db, live, table);
    if (!found) problems.push(`table ${live}.${table} does not exist (run taskstream migrate)`);
    else if (found.relkind !== "r") problems.push(`${live}.${table} is not a plain table`);
    else oids.push(found.oid);
  }
  for (const view of model.views) {
    const found = await relationOid(db, live, view);
    if (found?.relkind !== "v") problems.push(`view ${live}.${view} does not exist`);
  }
  const { rows: extras } = await db.query<{ relname: string; what: string }>(
    `select c.relname, 'has triggers' as what from pg_trigger t join pg_class c on c.oid = t.tgrelid
       where t.tgrelid = any($1::oid[]) and not t.tgisinternal
     union select c.relname, 'has row security' from pg_class c where c.oid = any($1::oid[]) and c.relrowsecurity
     union select c.relname, 'has foreign keys' from pg_constraint k join pg_class c on c.oid = k.conrelid
       where k.contype = 'f' and (k.conrelid = any($1::oid[]) or k.confrelid = any($1::oid[]))`,
    [oids],
  );
  for (const extra of extras)
    problems.push(`${live}.${extra.relname} ${extra.what}, which a rebuild does not copy`);
  const { rows: readers } = await db.query<{ schema: string; view: string; table: string }>(
    `select distinct n.nspname as schema, v.relname as view, t.relname as table
     from pg_depend d
     join pg_rewrite r on r.oid = d.objid and d.classid = 'pg_rewrite'::regclass
     join pg_class v on v.oid = r.ev_class
     join pg_namespace n on n.oid = v.relnamespace
     join pg_class t on t.oid = d.refobjid
     where d.refclassid = 'pg_class'::regclass and d.refobjid = any($1::oid[]) and v.oid <> d.refobjid`,
    [oids],
  );
  for (const reader of readers)
    if (reader.schema !== live || !model.views.includes(reader.view))
      problems.push(
        `view ${reader.schema}.${reader.view} reads ${live}.${reader.table}, which a rebuild replaces: ` +
          `declare it in projections/rebuild/read-models.ts`,
      );
  if (problems.length > 0)
    throw new IllegalStateError(`cannot rebuild the read model: ${problems.join("; ")}`);
}

/**
 * Creates schema `shadow` holding an empty twin of each declared table of `live` — columns,
 * defaults, check constraints, storage, the constraints and their indexes under the same names, its
 * own sequences (starting after the live ones), the same owner and grants — and each declared view,
 * recreated from its live definition over the twins. The other indexes come later
 * (`createShadowIndexes`). Runs in the caller's transaction.
 */
export async function createShadowTables(
  db: Queryable,
  live: string,
  shadow: string,
  model: ReadModelRelations,
): Promise<void> {
  await db.query(`create schema ${ident(shadow)}`);
  for (const table of model.tables) await createTwin(db, live, shadow, table);
  const { rows: saved } = await db.query<{ search_path: string }>(
    "select current_setting('search_path') as search_path",
  );
  for (const view of model.views) {
    // Printed with only `live` on the path, the definition names the tables unqualified; created
    // with `shadow` first, it binds to the twins.
    await db.query("select set_config('search_path', $1, true)", [ident(live)]);
    const { rows } = await db.query<{ definition: string }>(
      "select pg_get_viewdef(format('%I.%I', $1::text, $2::text)::regclass) as definition",
      [live, view],
    );
    await db.query("select set_config('search_path', $1, true)", [`${ident(shadow)}, ${ident(live)}`]);
    const definition = rows[0]!.definition.trim().replace(/;$/, "");
    await db.query(`create view ${qualified(shadow, view)} as ${definition}`);
    await copyOwnerAndGrants(db, live, shadow, view, "view");
  }
  await db.query("select set_config('search_path', $1, true)", [saved[0]!.search_path]);
  await checkViewsReadTwins(db, live, shadow, model);
}

async function createTwin(db: Queryable, live: string, shadow: string, table: string): Promise<void> {
  const from = qualified(live, table);
  const to = qualified(shadow, table);
  await db.query(`create table ${to} (like ${from} including all excluding indexes)`);
  // Constraints backed by an index (primary key, unique, exclusion) under their live names.
  const { rows: constraints } = await db.query<{ name: string; definition: string }>(
    `select conname as name, pg_get_constraintdef(oid) as definition from pg_constraint
     where conrelid = $1::regclass and contype in ('p', 'u', 'x') order by conname`,
    [from],
  );
  for (const c of constraints)
    await db.query(`alter table ${to} add constraint ${ident(c.name)} ${c.definition}`);
  // `like` copies a serial column's default, which names the live table's sequence: give the twin
  // its own, starting after the live one, owned by the twin's column (it moves with the table).
  const { rows: serials } = await db.query<{ column: string; sequence: string; next: string }>(
    `select a.attname as column, s.relname as sequence, (select last_value + 1 from pg_sequences q
       where q.schemaname = $2 and q.sequencename = s.relname)::text as next
     from pg_attribute a
     join pg_class s on s.oid = pg_get_serial_sequence($1, a.attname)::regclass
     where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped and a.attidentity = ''`,
    [from, live],
  );
  for (const serial of serials) {
    const sequence = qualified(shadow, serial.sequence);
    await db.query(`create sequence ${sequence} start with ${Number(serial.next ?? 1)}`);
    await db.query(`alter sequence ${sequence} owned by ${to}.${ident(serial.column)}`);
    await db.query(
      `alter table ${to} alter column ${ident(serial.column)} set default nextval('${sequence}')`,
    );
  }
  await copyOwnerAndGrants(db, live, shadow, table, "table");
}

async function copyOwnerAndGrants(
  db: Queryable,
  live: string,
  shadow: string,
  name: string,
  kind: "table" | "view",
): Promise<void> {
  const from = qualified(live, name);
  const to = qualified(shadow, name);
  const { rows: owner } = await db.query<{ owner: string; mine: boolean }>(
    `select pg_get_userbyid(relowner) as owner, pg_get_userbyid(relowner) = current_user as mine
     from pg_class where oid = $1::regclass`,
    [from],
  );
  if (owner[0] && !owner[0].mine)
    await db.query(`alter ${kind} ${to} owner to "${owner[0].owner.replaceAll('"', '""')}"`);
  const { rows: grants } = await db.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
    `select case when a.grantee = 0 then null else pg_get_userbyid(a.grantee) end as grantee,
            a.privilege_type as privilege, a.is_grantable as grantable
     from pg_class c, aclexplode(c.relacl) a
     where c.oid = $1::regclass and a.grantee <> c.relowner`,
    [from],
  );
  for (const g of grants) {
    const role = g.grantee === null ? "public" : `"${g.grantee.replaceAll('"', '""')}"`;
    await db.query(`grant ${g.privilege} on ${to} to ${role}${g.grantable ? " with grant option" : ""}`);
  }
}

/**
 * Creates on each twin the live table's indexes that back no constraint, under the same names, from
 * their definitions with the table swapped; those already there are left alone. The rebuild calls
 * it once the bulk of the fold is done: building an index once is cheaper than keeping it up to date
 * row by row.
 */
export async function createShadowIndexes(
  db: Queryable,
  live: string,
  shadow: string,
  model: ReadModelRelations,
): Promise<void> {
  for (const table of model.tables) {
    const to = qualified(shadow, table);
    const { rows: indexes } = await db.query<{ definition: string }>(
      `select pg_get_indexdef(i.indexrelid) as definition
       from pg_index i join pg_class c on c.oid = i.indexrelid
       where i.indrelid = $1::regclass
         and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
         and not exists (select 1 from pg_class t join pg_namespace n on n.oid = t.relnamespace
                         where n.nspname = $2 and t.relname = c.relname)
       order by c.relname`,
      [qualified(live, table), shadow],
    );
    for (const { definition } of indexes) {
      const onTwin = definition.replace(/ ON (ONLY )?\S+ USING /, ` ON ${to} USING `);
      if (onTwin === definition)
        throw new IllegalStateError(`cannot copy index of ${live}.${table}: ${definition}`);
      await db.query(onTwin);
    }
  }
}

/**
 * Numbers the rows of each `commitOrder` table again in its order, above the highest number there
 * (no new number meets an old one), and moves the twin's sequence past them — in the caller's
 * transaction, so a crash cannot leave the rows renumbered past a sequence that would then hand out
 * their numbers again.
 */
export async function restoreCommitOrder(
  db: Queryable,
  shadow: string,
  model: ReadModelRelations,
): Promise<void> {
  for (const { table, column, orderBy } of model.commitOrder) {
    const twin = qualified(shadow, table);
    const col = ident(column);
    await db.query(
      `update ${twin} t set ${col} = o.top + r.n
       from (select ${col} as old, row_number() over (order by ${orderBy}) as n from ${twin}) r,
            (select coalesce(max(${col}), 0) as top from ${twin}) o
       where t.${col} = r.old`,
    );
    await db.query(
      `select setval(pg_get_serial_sequence($1, $2), greatest((select max(${col}) from ${twin}), 1))`,
      [twin, column],
    );
  }
}

/** A recreated view must read the twins, never a live table the rebuild replaces. */
async function checkViewsReadTwins(
  db: Queryable,
  live: string,
  shadow: string,
  model: ReadModelRelations,
): Promise<void> {
  for (const view of model.views) {
    const { rows } = await db.query<{ schema: string; table: string }>(
      `select distinct n.nspname as schema, t.relname as table
       from pg_rewrite r
       join pg_depend d on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
       join pg_class t on t.oid = d.refobjid
       join pg_namespace n on n.oid = t.relnamespace
       where r.ev_class = $1::regclass and t.oid <> r.ev_class`,
      [qualified(shadow, view)],
    );
    const wrong = rows.filter((row) => row.schema === live && model.tables.includes(row.table));
    if (wrong.length > 0)
      throw new IllegalStateError(
        `the rebuilt view ${view} would read ${wrong.map((w) => `${live}.${w.table}`).join(", ")}, not the fresh tables`,
      );
  }
}

/** Drops a rebuild schema and everything in it (the fresh tables of an abandoned rebuild, or the replaced ones). */
export async function dropRebuildSchema(db: Queryable, schema: string): Promise<void> {
  await db.query(`drop schema if exists ${ident(schema)} cascade`);
}

/** Whether `schema` holds every declared table. */
export async function shadowComplete(
  db: Queryable,
  schema: string,
  model: ReadModelRelations,
): Promise<boolean> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname = any($2::text[])`,
    [schema, [...model.tables, ...model.views]],
  );
  return rows[0]?.n === model.tables.length + model.views.length;
}
