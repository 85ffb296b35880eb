-- The `checks` queue is now `probes`, and its `check-domain(s)` jobs `probe-domain(s)` (issue 16: one
-- meaning per word). Jobs still waiting in the outbox are renamed so the relay delivers them to the
-- queue this version runs; delivered rows keep the names they were delivered under.
UPDATE "outbox" SET "queue" = 'probes' WHERE "queue" = 'checks' AND "dispatched_at" IS NULL;--> statement-breakpoint
UPDATE "outbox" SET "job_name" = 'probe-domain' WHERE "queue" = 'probes' AND "job_name" = 'check-domain' AND "dispatched_at" IS NULL;--> statement-breakpoint
UPDATE "outbox" SET "job_name" = 'probe-domains' WHERE "queue" = 'probes' AND "job_name" = 'check-domains' AND "dispatched_at" IS NULL;
