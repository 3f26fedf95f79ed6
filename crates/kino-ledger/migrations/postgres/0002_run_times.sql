-- How long recent jobs of a provider and model took (the poll plan learns from it): the newest
-- succeeded ones of the pair, found without reading the rest.
CREATE INDEX jobs_run_times ON jobs (provider, model, state, finished_at);
