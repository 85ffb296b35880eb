-- Deleting a domain archives it (issue 15): its checks, tasks and audit stay, and the database refuses
-- to remove a domain that has any. The name is unique among the program's live domains only, so
-- another customer may take a name an archived domain once held.
ALTER TABLE "domains" DROP CONSTRAINT "domains_program_name_key";--> statement-breakpoint
ALTER TABLE "dns_checks" DROP CONSTRAINT "dns_checks_domain_id_domains_id_fk";
--> statement-breakpoint
ALTER TABLE "tasks" DROP CONSTRAINT "tasks_domain_id_domains_id_fk";
--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "archived_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "archived_by" text;--> statement-breakpoint
ALTER TABLE "dns_checks" ADD CONSTRAINT "dns_checks_domain_id_domains_id_fk" FOREIGN KEY ("domain_id") REFERENCES "public"."domains"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_domain_id_domains_id_fk" FOREIGN KEY ("domain_id") REFERENCES "public"."domains"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "domains_program_name_key" ON "domains" USING btree ("program_id","name") WHERE "domains"."archived_at" IS NULL;