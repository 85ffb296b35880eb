ALTER TABLE "domains" DROP CONSTRAINT "domains_latest_verdict_valid";--> statement-breakpoint
ALTER TABLE "dns_checks" DROP CONSTRAINT "dns_checks_verdict_valid";--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "not_found_dismissed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "not_found_dismissed_by" text;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "not_found_dismissal_reason" text;--> statement-breakpoint
ALTER TABLE "domains" ADD CONSTRAINT "domains_not_found_dismissal_valid" CHECK (("domains"."not_found_dismissed_at" IS NULL AND "domains"."not_found_dismissed_by" IS NULL AND "domains"."not_found_dismissal_reason" IS NULL) OR ("domains"."not_found_dismissed_at" IS NOT NULL AND "domains"."not_found_dismissed_by" IS NOT NULL AND length(btrim("domains"."not_found_dismissal_reason")) > 0 AND "domains"."latest_verdict" = 'domain_not_found'));--> statement-breakpoint
ALTER TABLE "domains" ADD CONSTRAINT "domains_latest_verdict_valid" CHECK (latest_verdict IS NULL OR latest_verdict IN ('clean', 'needs_mx_change', 'needs_spf_cleanup', 'needs_mx_and_spf', 'domain_not_found', 'unknown'));--> statement-breakpoint
ALTER TABLE "dns_checks" ADD CONSTRAINT "dns_checks_verdict_valid" CHECK (verdict IS NULL OR verdict IN ('clean', 'needs_mx_change', 'needs_spf_cleanup', 'needs_mx_and_spf', 'domain_not_found', 'unknown'));