-- Read models for the console: analytics, the task event feed, live counts by state, and indexes for
-- the richer task filters. All written by the tasks projector in the transaction of each batch
-- (docs/analytics.md, docs/task-feed.md); old analytics minutes and feed entries are dropped by the
-- projector's retention job.

-- One row per minute (when the log recorded the events) and task type: what happened to tasks of
-- that type in that minute, and histograms of the latencies measured then. A histogram is an array
-- of counts over fixed log-scale buckets (projections/analytics/histogram.ts): rows add up bucket by
-- bucket, so percentiles over any window are estimated from summed buckets at query time.
create table analytics_minutes (
  minute timestamptz not null,
  task_type text not null,
  submitted int not null default 0,
  -- Attempts started (TaskStarted).
  started int not null default 0,
  succeeded int not null default 0,
  -- Attempts failed (TaskAttemptFailed), retried or not.
  failed int not null default 0,
  -- Failed attempts followed by another (retryAt set).
  retried int not null default 0,
  dead_lettered int not null default 0,
  cancelled int not null default 0,
  -- From when a task was due (submitted, runAt, or its retry time) to its assignment to a worker, ms.
  schedule_to_start int[] not null,
  -- From an attempt's start to its success or failure, ms.
  run_time int[] not null,
  primary key (minute, task_type)
);

-- The same per hour, written in the same transaction: a long window reads its whole hours here
-- and only its ragged ends from the minutes (read-api/queries/analytics.ts), so a 7-day window
-- costs 168 rows per type instead of 10,080.
create table analytics_hours (like analytics_minutes including all);
alter table analytics_hours rename column minute to hour;

-- What each worker finished per minute, and the time its attempts ran (busiest workers).
create table analytics_worker_minutes (
  minute timestamptz not null,
  worker_id text not null,
  succeeded int not null default 0,
  failed int not null default 0,
  busy_ms bigint not null default 0,
  primary key (minute, worker_id)
);

create table analytics_worker_hours (like analytics_worker_minutes including all);
alter table analytics_worker_hours rename column minute to hour;

-- Attempts started in one batch and not finished by its end: their start, for the run time.
create table analytics_open_attempts (
  task_id text primary key,
  attempt int not null,
  worker_id text not null,
  started_at timestamptz not null
);

-- How many tasks are in each state, per task type: moved with every row change, so counting needs
-- no scan of `tasks`. Seeded from the tasks already projected.
create table task_state_counts (
  task_type text not null,
  state text not null,
  count bigint not null,
  primary key (task_type, state)
);
insert into task_state_counts (task_type, state, count)
select type, state, count(*) from tasks group by type, state;

-- Every projected task event, in the order of the projector's commits (`seq`), with its position in
-- the log (partition and stream id, as numbers) that resumable feeds use as their cursor.
create table task_feed (
  seq bigserial primary key,
  partition int not null,
  stream_ms bigint not null,
  stream_seq bigint not null,
  task_id text not null,
  version int not null,
  event_type text not null,
  task_type text not null,
  -- The task's state after the event.
  state text not null,
  priority int not null,
  recorded_at timestamptz not null
);
-- Where a cursor resumes in each partition.
create index task_feed_position_idx on task_feed (partition, stream_ms, stream_seq);
-- Retention drops by age.
create index task_feed_recorded_idx on task_feed (recorded_at);
-- Per partition, the newest position retention has dropped: a cursor at or before it cannot resume
-- without a gap, and is refused.
create table task_feed_horizon (
  partition int primary key,
  stream_ms bigint not null,
  stream_seq bigint not null
);

-- Task filters: by priority and by worker in id (creation) order, and lookup by idempotency key.
-- Created-time ranges need no index: task ids are UUIDv7, so a range of creation times is a range
-- of ids (read-api/queries/task-list.ts).
create index tasks_priority_id_idx on tasks (priority, id);
create index tasks_worker_id_idx on tasks (worker_id, id) where worker_id is not null;
create index tasks_idempotency_key_idx on tasks (idempotency_key) where idempotency_key is not null;

-- Adds two histograms bucket by bucket (a shorter one counts as zeros).
create function analytics_add_buckets(a int[], b int[]) returns int[]
language sql immutable parallel safe as $$
  select array_agg(coalesce(x, 0) + coalesce(y, 0) order by i)
  from unnest(a, b) with ordinality as u(x, y, i)
$$;
