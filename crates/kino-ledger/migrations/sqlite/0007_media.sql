-- What ffprobe read of a downloaded result (kino_core::MediaProbe as JSON text). Nullable: a
-- result not downloaded yet, or downloaded where no ffprobe was installed, has none, and an
-- older kino that does not know the column keeps working on this ledger.
ALTER TABLE artifacts ADD COLUMN probe TEXT;
