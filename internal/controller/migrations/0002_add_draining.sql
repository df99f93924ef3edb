-- Draining: no new sessions or builds go to the controller; what it
-- runs finishes. Kept here so it survives restarts and holds on every replica.
ALTER TABLE controllers ADD COLUMN draining BOOLEAN NOT NULL DEFAULT FALSE;
