-- The read model of recurring schedules: one row per schedule, each firing, and every event (for
-- GraphQL history). Written only by the schedules projector (projections/schedules/), whose
-- checkpoint lives in projection_checkpoints like the tasks projector's.

create table schedules (
  id text primary key,
  cron text not null,
  time_zone text not null,
  status text not null,
  task jsonb not null,
  catch_up text not null,
  -- Fire times at or before this instant are decided (fired, skipped, or not owed after a resume).
  fire_cursor timestamptz not null,
  last_fired_at timestamptz,
  last_task_id text,
  -- Null unless ACTIVE; in the past while firings are owed and no leader has caught up.
  next_fire_at timestamptz,
  firings int not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  version int not null,
  last_stream_id text not null
);

-- Listing by status in id order (UUIDv7: creation order).
create index schedules_status_id_idx on schedules (status, id);

create table schedule_firings (
  schedule_id text not null,
  fire_at timestamptz not null,
  -- Null when the template could not be submitted; `error` says why.
  task_id text,
  error text,
  recorded_at timestamptz not null,
  primary key (schedule_id, fire_at)
);

create table schedule_events (
  schedule_id text not null,
  version int not null,
  type text not null,
  data jsonb not null,
  stream_id text not null,
  recorded_at timestamptz not null,
  primary key (schedule_id, version)
);
