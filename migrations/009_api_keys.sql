-- API keys (docs/security.md): each key's secret is stored only as a scrypt hash; a key is never
-- deleted, only revoked, so the actor of every event it caused stays explainable.
create table if not exists api_keys (
  id text primary key,
  -- What the key is for, as its maker said (`--name`).
  name text not null default '',
  secret_hash text not null,
  -- The namespaces it may see and change; '{*}' for every one.
  namespaces text[] not null,
  -- submit, read, cancel, admin, worker.
  scopes text[] not null,
  -- For worker keys: the task types it may register for; null for any.
  task_types text[],
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
