ALTER TABLE "customers" ADD COLUMN "resolved_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "first_clean_at" timestamp with time zone;--> statement-breakpoint
-- The burndown reads when each customer left the backlog and when each domain was first found clean.
-- Both are facts of the history tables; statement triggers keep them on the rows (set-based, so a
-- bulk import costs one UPDATE), and the earliest event wins even when history arrives back-dated.
CREATE FUNCTION customers_note_resolved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers c SET resolved_at = e.at
  FROM (SELECT customer_id, min(at) AS at FROM inserted
        WHERE to_status IN ('migrated', 'completed', 'declined', 'cancelled') GROUP BY customer_id) e
  WHERE c.id = e.customer_id AND (c.resolved_at IS NULL OR c.resolved_at > e.at);
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER status_events_note_resolved
  AFTER INSERT ON status_events REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION customers_note_resolved();--> statement-breakpoint
CREATE FUNCTION domains_note_first_clean() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE domains d SET first_clean_at = k.at
  FROM (SELECT domain_id, min(checked_at) AS at FROM inserted WHERE verdict = 'clean' GROUP BY domain_id) k
  WHERE d.id = k.domain_id AND (d.first_clean_at IS NULL OR d.first_clean_at > k.at);
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER dns_checks_note_first_clean
  AFTER INSERT ON dns_checks REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION domains_note_first_clean();--> statement-breakpoint
UPDATE customers c SET resolved_at = e.at
FROM (SELECT customer_id, min(at) AS at FROM status_events
      WHERE to_status IN ('migrated', 'completed', 'declined', 'cancelled') GROUP BY customer_id) e
WHERE c.id = e.customer_id;--> statement-breakpoint
UPDATE domains d SET first_clean_at = k.at
FROM (SELECT domain_id, min(checked_at) AS at FROM dns_checks WHERE verdict = 'clean' GROUP BY domain_id) k
WHERE d.id = k.domain_id;
