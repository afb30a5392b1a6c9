-- Task listings page by id. Task ids are UUIDv7 made from the same clock reading as the task's
-- created_at, so id order is creation order (as for schedules). The primary key serves the
-- unfiltered listing, and the state and type indexes need no timestamp: one index fewer, and
-- narrower ones, to maintain on every submission and every state change.

drop index tasks_created_idx;
drop index tasks_state_created_idx;
drop index tasks_type_created_idx;
create index tasks_state_id_idx on tasks (state, id);
create index tasks_type_id_idx on tasks (type, id);
