-- +goose Up
-- Delivery engine, multi-instance safety and cheaper recording (issue 16).
--
-- callback_subjects.head is the subject's head pointer: the seq of its one 'pending'
-- delivery, 0 when it has none. The enqueue upsert reads and moves it under the subject row
-- lock (the latest row version, whatever the statement snapshot), so two business
-- transactions recording for one subject at once can no longer both see "no head" and make
-- two heads; the recorder moves it when the head finishes, without scanning.
ALTER TABLE callback_subjects ADD COLUMN head BIGINT NOT NULL DEFAULT 0;
ALTER TABLE callback_subjects SET (fillfactor = 80);
UPDATE callback_subjects s SET head = COALESCE((SELECT MIN(d.seq) FROM callback_deliveries d
    WHERE d.endpoint_id = s.endpoint_id AND d.subject = s.subject AND d.status = 'pending'), 0);
-- A subject left without a head although it had queued deliveries gets its first one.
UPDATE callback_deliveries d SET status = 'pending'
    WHERE d.status = 'queued' AND d.seq = (SELECT MIN(q.seq) FROM callback_deliveries q
        WHERE q.endpoint_id = d.endpoint_id AND q.subject = d.subject AND q.status = 'queued')
      AND EXISTS (SELECT 1 FROM callback_subjects s WHERE s.endpoint_id = d.endpoint_id AND s.subject = d.subject AND s.head = 0);
UPDATE callback_subjects s SET head = COALESCE((SELECT MIN(d.seq) FROM callback_deliveries d
    WHERE d.endpoint_id = s.endpoint_id AND d.subject = s.subject AND d.status = 'pending'), 0) WHERE head = 0;

-- callback_recheck notes subjects whose head finished while a business transaction held
-- the subject row: the recorder never waits for it (that could deadlock with the business
-- transaction), it promotes right after its commit and removes the note; the sweep handles
-- notes a crash left behind. Small and usually empty, so the sweep costs nothing.
CREATE TABLE callback_recheck (
    endpoint_id TEXT NOT NULL,
    subject     TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, subject)
);

-- Only the indexes the queue needs: every finished delivery is a non-HOT update (status is
-- in the claim index's predicate), which inserts into every index whose predicate the new
-- row matches. The open index duplicated the unique (endpoint_id, subject, seq) one; the
-- (status, id) index took an entry for every row version; purge now reads finished rows only.
DROP INDEX callback_deliveries_open;
DROP INDEX callback_deliveries_status;
CREATE INDEX callback_deliveries_finished ON callback_deliveries (finished_at) WHERE status = 'delivered';
CREATE INDEX callback_deliveries_failed ON callback_deliveries (id) WHERE status = 'failed';

-- +goose Down
DROP INDEX callback_deliveries_failed;
DROP INDEX callback_deliveries_finished;
CREATE INDEX callback_deliveries_status ON callback_deliveries (status, id);
CREATE INDEX callback_deliveries_open ON callback_deliveries (endpoint_id, subject, seq)
    WHERE status IN ('pending', 'queued');
DROP TABLE callback_recheck;
ALTER TABLE callback_subjects DROP COLUMN head;
