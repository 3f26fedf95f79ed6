-- Conversational platforms: the web link a person can open, and how far the conversation has
-- been read (written in the same transaction as the messages it covers).
ALTER TABLE jobs ADD COLUMN web_link TEXT;
ALTER TABLE jobs ADD COLUMN cursor TEXT;
