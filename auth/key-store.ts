import type pg from "pg";
import {
  identifierProblem,
  namespaceProblem,
  NotFoundError,
  ValidationError,
  type FieldError,
} from "../domain/task/index.ts";
import { generateKey, hashSecret } from "./api-keys.ts";
import { ALL_NAMESPACES, SCOPES, type Scope } from "./principal.ts";

/** A key as stored (never its secret). */
export interface ApiKeyRecord {
  id: string;
  name: string;
  namespaces: string[];
  scopes: Scope[];
  taskTypes: string[] | null;
  createdAt: Date;
  revokedAt: Date | null;
}

/** What a new key may do. */
export interface KeyGrant {
  name?: string;
  namespaces: string[];
  scopes: string[];
  taskTypes?: string[] | null;
}

interface KeyRow {
  id: string;
  name: string;
  secret_hash: string;
  namespaces: string[];
  scopes: Scope[];
  task_types: string[] | null;
  created_at: Date;
  revoked_at: Date | null;
}

const TASK_TYPE = /^[A-Za-z0-9_.:\-/]{1,128}$/;

/** API keys in PostgreSQL (migrations/009_api_keys.sql): made, listed, revoked; looked up by id. */
export class KeyStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Makes a key; returns it with its secret, which is not kept and cannot be shown again. */
  async create(grant: KeyGrant): Promise<{ record: ApiKeyRecord; key: string }> {
    const checked = checkGrant(grant);
    const fresh = generateKey();
    const hash = await hashSecret(fresh.secret);
    const { rows } = await this.pool.query<KeyRow>(
      `insert into api_keys (id, name, secret_hash, namespaces, scopes, task_types)
       values ($1, $2, $3, $4, $5, $6) returning *`,
      [fresh.id, checked.name, hash, checked.namespaces, checked.scopes, checked.taskTypes],
    );
    return { record: toRecord(rows[0]!), key: fresh.key };
  }

  /** Every key, newest first (revoked ones too). */
  async list(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.pool.query<KeyRow>("select * from api_keys order by created_at desc, id");
    return rows.map(toRecord);
  }

  /** Revokes a key at once (processes notice within their cache time, authenticator.ts). */
  async revoke(id: string): Promise<ApiKeyRecord> {
    const { rows } = await this.pool.query<KeyRow>(
      "update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1 returning *",
      [id],
    );
    if (!rows[0]) throw new NotFoundError(`API key ${id}`);
    return toRecord(rows[0]);
  }

  /** A key by id with its secret's hash (null when unknown). */
  async find(id: string): Promise<(ApiKeyRecord & { secretHash: string }) | null> {
    const { rows } = await this.pool.query<KeyRow>("select * from api_keys where id = $1", [id]);
    return rows[0] ? { ...toRecord(rows[0]), secretHash: rows[0].secret_hash } : null;
  }

  /** How many keys are not revoked (a server requiring authentication needs one). */
  async countActive(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      "select count(*)::int as n from api_keys where revoked_at is null",
    );
    return rows[0]?.n ?? 0;
  }
}

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    namespaces: row.namespaces,
    scopes: row.scopes,
    taskTypes: row.task_types,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

/** Checks a grant, naming every bad field: known scopes, valid namespaces (or `*`), task types. */
export function checkGrant(grant: KeyGrant): Required<KeyGrant> & { scopes: Scope[] } {
  const errors: FieldError[] = [];
  const name = grant.name ?? "";
  const nameProblem = name.length > 128 ? "must be at most 128 characters" : identifierProblem(name);
  if (nameProblem) errors.push({ field: "name", reason: nameProblem });
  const namespaces = [...new Set(grant.namespaces)];
  if (namespaces.length === 0 || namespaces.length > 100)
    errors.push({
      field: "namespace",
      reason: `must name 1 to 100 namespaces, or ${ALL_NAMESPACES} for every one`,
    });
  for (const ns of namespaces) {
    if (ns === ALL_NAMESPACES) continue;
    const problem = namespaceProblem(ns);
    if (problem) errors.push({ field: "namespace", reason: `"${ns}" ${problem}` });
  }
  const scopes = [...new Set(grant.scopes)];
  if (scopes.length === 0)
    errors.push({ field: "scopes", reason: `must name at least one of ${SCOPES.join(", ")}` });
  for (const scope of scopes)
    if (!(SCOPES as readonly string[]).includes(scope))
      errors.push({ field: "scopes", reason: `"${scope}" is not one of ${SCOPES.join(", ")}` });
  const taskTypes = grant.taskTypes ? [...new Set(grant.taskTypes)] : null;
  if (taskTypes && (taskTypes.length === 0 || taskTypes.length > 256))
    errors.push({ field: "task-types", reason: "must name 1 to 256 task types" });
  for (const type of taskTypes ?? [])
    if (!TASK_TYPE.test(type))
      errors.push({
        field: "task-types",
        reason: `"${type}" must be 1 to 128 letters, digits and _ . : - /`,
      });
  if (errors.length > 0) throw new ValidationError(errors);
  return {
    name,
    namespaces: namespaces.includes(ALL_NAMESPACES) ? [ALL_NAMESPACES] : namespaces.sort(),
    scopes: scopes as Scope[],
    taskTypes,
  };
}
