ALTER TABLE "programs" ADD COLUMN "escalate_after_days" integer DEFAULT 3 NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "escalation_contact_id" uuid;--> statement-breakpoint
ALTER TABLE "programs" ADD CONSTRAINT "programs_escalation_contact_id_sales_owners_id_fk" FOREIGN KEY ("escalation_contact_id") REFERENCES "public"."sales_owners"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "programs" ADD CONSTRAINT "programs_escalate_after_days_nonneg" CHECK ("programs"."escalate_after_days" >= 0);