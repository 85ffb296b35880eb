ALTER TABLE "domains" ADD COLUMN "latest_mx_state" text;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "breaks_at_deletion" boolean;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "dmarc_policy" text;--> statement-breakpoint
CREATE INDEX "domains_blast_radius_idx" ON "domains" USING btree ("program_id") WHERE "domains"."breaks_at_deletion";