-- Projection rebuilds (docs/projection-rebuild.md): a rebuild folds the archive and the log into fresh
-- tables in a schema of their own, then swaps them in for the live ones in one transaction.

-- One row per rebuild under way, keyed by the live projector's checkpoint key (`${prefix}:tasks`).
-- The rebuild's own position in the log is a checkpoint row of its own (`${prefix}:tasks-rebuild`),
-- so the archiver waits for it as for any reader.
create table projection_rebuilds (
  projector text primary key,
  -- Where the fresh tables are filled.
  shadow_schema text not null,
  -- 'archive': folding the archive, in task id order; 'log': folding the log up to the live
  -- projector's checkpoint; 'swapped': the fresh tables are live, the old ones await removal.
  phase text not null check (phase in ('archive', 'log', 'swapped')),
  -- The last archived task folded (task ids order the archive); moved in each page's transaction.
  archive_after text not null default '',
  -- How many migrations were applied when the rebuild began: the swap refuses if that changed.
  migrations int not null,
  started_at timestamptz not null default now(),
  swapped_at timestamptz
);

-- Bumped by each swap. A projector keeps the rows it committed in memory (projections/row-cache.ts);
-- it reads this in each batch's transaction and forgets those rows when it changed.
create table read_model_generations (
  projector text primary key,
  generation int not null,
  swapped_at timestamptz not null default now()
);
