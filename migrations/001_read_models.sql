-- The PostgreSQL read model: one row per task, every projected event, and each projector's position
-- in each partition of the log. Written only by the projector (projections/tasks-projector.ts).

create table tasks (
  id text primary key,
  type text not null,
  state text not null,
  priority int not null,
  attempt int not null,
  max_attempts int not null,
  payload jsonb,
  result jsonb,
  last_error jsonb,
  idempotency_key text,
  requires jsonb not null default '{}',
  metadata jsonb not null default '{}',
  worker_id text,
  cancel_requested boolean not null default false,
  available_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  version int not null,
  partition int not null,
  last_stream_id text not null
);

-- Keyset pagination: all tasks, by state, by type; each ordered by (created_at, id).
create index tasks_created_idx on tasks (created_at, id);
create index tasks_state_created_idx on tasks (state, created_at, id);
create index tasks_type_created_idx on tasks (type, created_at, id);

create table task_events (
  task_id text not null,
  version int not null,
  type text not null,
  data jsonb not null,
  stream_id text not null,
  partition int not null,
  recorded_at timestamptz not null,
  primary key (task_id, version)
);

-- The last stream id each projector has folded, per partition; moved in the same transaction as the
-- rows it produced, by compare-and-set.
create table projection_checkpoints (
  projector text not null,
  partition int not null,
  stream_id text not null,
  updated_at timestamptz not null default now(),
  primary key (projector, partition)
);
