-- The kino.toml profile whose account made the job (NULL: the environment's account). Every
-- later step (poll, cancel, reply, reconcile) uses that account: a task id belongs to the
-- account that created it, and another account's key is refused or sees nothing.
ALTER TABLE jobs ADD COLUMN profile TEXT;
