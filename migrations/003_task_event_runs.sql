-- Task history stored as runs: one row per task per projected batch, holding that batch's events of
-- the task in version order. A task's Assigned, Started and Succeeded usually land in one batch, so
-- a task costs one or two history rows instead of one per event (docs/projection-checkpoints.md).
-- The `task_events` view keeps one row per event for SQL readers.

create table task_event_runs (
  task_id text not null,
  first_version int not null,
  last_version int not null,
  partition int not null,
  -- [{"version", "type", "data", "stream_id", "at" (Unix ms the log recorded it)}, ...]
  events jsonb not null,
  primary key (task_id, first_version)
);

insert into task_event_runs (task_id, first_version, last_version, partition, events)
select task_id, version, version, partition,
       jsonb_build_array(jsonb_build_object(
         'version', version, 'type', type, 'data', data, 'stream_id', stream_id,
         'at', floor(extract(epoch from recorded_at) * 1000)))
from task_events;

drop table task_events;

create view task_events as
select r.task_id,
       (e ->> 'version')::int as version,
       e ->> 'type' as type,
       e -> 'data' as data,
       e ->> 'stream_id' as stream_id,
       r.partition,
       to_timestamp((e ->> 'at')::double precision / 1000.0) as recorded_at
from task_event_runs r
cross join lateral jsonb_array_elements(r.events) as e;
