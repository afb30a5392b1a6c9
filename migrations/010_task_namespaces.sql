-- Namespaces (docs/security.md): every task belongs to one; tasks projected before namespaces
-- existed are in `default`, as their events say. Listings filter by namespace in id order.
alter table tasks add column if not exists namespace text not null default 'default';
create index if not exists tasks_namespace_id_idx on tasks (namespace, id);
