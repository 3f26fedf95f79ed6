-- How long a succeeded job ran by the platform's own clock (create to end), when the platform
-- says. The poll plan learns from it: the time until kino *saw* the success can be hours for a
-- job resumed the next morning, and must not teach the plan to sleep that long.
ALTER TABLE jobs ADD COLUMN ran_ms BIGINT;
