-- The event archive: the events of finished tasks moved out of Redis after the retention period
-- (docs/retention-and-archive.md). Append-only; partitioned by the day the task finished, so whole
-- old days can be dropped at once (TASKSTREAM_ARCHIVE_RETENTION_DAYS). Partitions are created by the
-- archiver as it needs them (event-store/archive/archive-store.ts).

create table task_event_archive (
  -- When the task reached its terminal state (the same for all of a task's rows).
  finished_at timestamptz not null,
  task_id text not null,
  version int not null,
  type text not null,
  -- The event's data as the log held it (JSON text, byte for byte).
  data json not null,
  stream_id text not null,
  partition int not null,
  -- When the log recorded the event.
  recorded_at timestamptz not null,
  primary key (finished_at, task_id, version)
) partition by range (finished_at);

-- A task's history, in order, whichever day it finished.
create index task_event_archive_task_idx on task_event_archive (task_id, version);

-- How far the archiver has scanned each partition of each log for terminal events.
create table archive_cursors (
  log text not null,
  partition int not null,
  stream_id text not null,
  updated_at timestamptz not null default now(),
  primary key (log, partition)
);
