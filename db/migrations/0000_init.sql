CREATE TABLE "programs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"legacy_service" text NOT NULL,
	"successor_service" text NOT NULL,
	"shutdown_at" date NOT NULL,
	"spf_record_deletion_at" date,
	"timezone" text DEFAULT 'Asia/Tokyo' NOT NULL,
	"legacy_mx_host_suffixes" text[] DEFAULT '{}' NOT NULL,
	"legacy_spf_includes" text[] DEFAULT '{}' NOT NULL,
	"successor_mx_host_suffixes" text[] DEFAULT '{}' NOT NULL,
	"successor_spf_includes" text[] DEFAULT '{}' NOT NULL,
	"reminder_offsets_days" integer[] NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "programs_name_not_blank" CHECK (length(btrim("programs"."name")) > 0),
	CONSTRAINT "programs_spf_deletion_after_shutdown" CHECK ("programs"."spf_record_deletion_at" IS NULL OR "programs"."spf_record_deletion_at" > "programs"."shutdown_at"),
	CONSTRAINT "programs_has_legacy_identifier" CHECK (cardinality("programs"."legacy_mx_host_suffixes") + cardinality("programs"."legacy_spf_includes") > 0)
);
--> statement-breakpoint
CREATE TABLE "sales_owners" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"email" text NOT NULL,
	"department" text NOT NULL,
	"manager_id" uuid,
	"active" boolean DEFAULT true NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sales_owners_not_own_manager" CHECK ("sales_owners"."manager_id" IS DISTINCT FROM "sales_owners"."id")
);
--> statement-breakpoint
CREATE TABLE "customers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"external_ref" text NOT NULL,
	"name" text NOT NULL,
	"sales_owner_id" uuid NOT NULL,
	"status" text DEFAULT 'not_contacted' NOT NULL,
	"status_before_hold" text,
	"planned_migration_at" date,
	"successor_account_ref" text,
	"notes" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customers_program_external_ref_key" UNIQUE("program_id","external_ref"),
	CONSTRAINT "customers_id_program_key" UNIQUE("id","program_id"),
	CONSTRAINT "customers_status_valid" CHECK (status IN ('not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold')),
	CONSTRAINT "customers_status_before_hold_valid" CHECK (status_before_hold IS NULL OR status_before_hold IN ('not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold'))
);
--> statement-breakpoint
CREATE TABLE "domains" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"name" text NOT NULL,
	"display_name" text NOT NULL,
	"latest_verdict" text,
	"last_checked_at" timestamp with time zone,
	"last_determined_at" timestamp with time zone,
	"next_check_at" timestamp with time zone DEFAULT now() NOT NULL,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "domains_program_name_key" UNIQUE("program_id","name"),
	CONSTRAINT "domains_name_lower" CHECK ("domains"."name" = lower("domains"."name") AND right("domains"."name", 1) <> '.'),
	CONSTRAINT "domains_latest_verdict_valid" CHECK (latest_verdict IS NULL OR latest_verdict IN ('clean', 'needs_mx_change', 'needs_spf_cleanup', 'needs_mx_and_spf', 'unknown')),
	CONSTRAINT "domains_consecutive_failures_nonneg" CHECK ("domains"."consecutive_failures" >= 0)
);
--> statement-breakpoint
CREATE TABLE "status_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "status_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"customer_id" uuid NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"actor" text NOT NULL,
	"note" text,
	"override_reason" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "status_events_to_valid" CHECK (to_status IN ('not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold')),
	CONSTRAINT "status_events_from_valid" CHECK (from_status IS NULL OR from_status IN ('not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold'))
);
--> statement-breakpoint
CREATE TABLE "dns_checks" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "dns_checks_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"domain_id" uuid NOT NULL,
	"checked_at" timestamp with time zone NOT NULL,
	"outcome" text NOT NULL,
	"verdict" text,
	"mx_state" text,
	"spf_state" text,
	"result" jsonb NOT NULL,
	"duration_ms" integer NOT NULL,
	"resolver" text NOT NULL,
	CONSTRAINT "dns_checks_outcome_valid" CHECK ("dns_checks"."outcome" IN ('determined', 'error')),
	CONSTRAINT "dns_checks_verdict_valid" CHECK (verdict IS NULL OR verdict IN ('clean', 'needs_mx_change', 'needs_spf_cleanup', 'needs_mx_and_spf', 'unknown')),
	CONSTRAINT "dns_checks_error_has_no_verdict" CHECK ("dns_checks"."outcome" = 'determined' OR "dns_checks"."verdict" IS NULL)
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"customer_id" uuid,
	"domain_id" uuid,
	"assignee_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"milestone" text NOT NULL,
	"dedupe_key" text NOT NULL,
	"escalated_from_id" uuid,
	"status" text DEFAULT 'open' NOT NULL,
	"title" text NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"snoozed_until" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"close_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tasks_dedupe_key_key" UNIQUE("dedupe_key"),
	CONSTRAINT "tasks_kind_valid" CHECK (kind IN ('reminder', 'spf_cleanup', 'regression', 'unable_to_verify', 'escalation')),
	CONSTRAINT "tasks_status_valid" CHECK (status IN ('open', 'completed', 'dismissed', 'closed')),
	CONSTRAINT "tasks_closed_consistent" CHECK (("tasks"."status" = 'open') = ("tasks"."closed_at" IS NULL))
);
--> statement-breakpoint
CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"sales_owner_id" uuid,
	"department" text,
	"token_hash" text NOT NULL,
	"token_prefix" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "api_tokens_token_hash_key" UNIQUE("token_hash"),
	CONSTRAINT "api_tokens_role_valid" CHECK (role IN ('admin', 'manager', 'sales')),
	CONSTRAINT "api_tokens_hash_format" CHECK ("api_tokens"."token_hash" ~ '^[0-9a-f]{64}$'),
	CONSTRAINT "api_tokens_role_binding" CHECK (("api_tokens"."role" = 'sales') = ("api_tokens"."sales_owner_id" IS NOT NULL) AND ("api_tokens"."role" = 'manager') = ("api_tokens"."department" IS NOT NULL))
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"actor_token_id" uuid,
	"request_id" text,
	"action" text NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"before" jsonb,
	"after" jsonb
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "outbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"queue" text NOT NULL,
	"job_name" text NOT NULL,
	"job_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"available_at" timestamp with time zone DEFAULT now() NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"dispatched_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "sales_owners" ADD CONSTRAINT "sales_owners_manager_id_sales_owners_id_fk" FOREIGN KEY ("manager_id") REFERENCES "public"."sales_owners"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customers" ADD CONSTRAINT "customers_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customers" ADD CONSTRAINT "customers_sales_owner_id_sales_owners_id_fk" FOREIGN KEY ("sales_owner_id") REFERENCES "public"."sales_owners"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "domains" ADD CONSTRAINT "domains_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "domains" ADD CONSTRAINT "domains_customer_in_program_fk" FOREIGN KEY ("customer_id","program_id") REFERENCES "public"."customers"("id","program_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "status_events" ADD CONSTRAINT "status_events_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dns_checks" ADD CONSTRAINT "dns_checks_domain_id_domains_id_fk" FOREIGN KEY ("domain_id") REFERENCES "public"."domains"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_domain_id_domains_id_fk" FOREIGN KEY ("domain_id") REFERENCES "public"."domains"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_assignee_id_sales_owners_id_fk" FOREIGN KEY ("assignee_id") REFERENCES "public"."sales_owners"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_escalated_from_id_tasks_id_fk" FOREIGN KEY ("escalated_from_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_sales_owner_id_sales_owners_id_fk" FOREIGN KEY ("sales_owner_id") REFERENCES "public"."sales_owners"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "programs_created_at_idx" ON "programs" USING btree ("created_at","id");--> statement-breakpoint
CREATE UNIQUE INDEX "sales_owners_email_lower_key" ON "sales_owners" USING btree (lower("email"));--> statement-breakpoint
CREATE INDEX "sales_owners_department_idx" ON "sales_owners" USING btree ("department");--> statement-breakpoint
CREATE INDEX "sales_owners_manager_idx" ON "sales_owners" USING btree ("manager_id");--> statement-breakpoint
CREATE INDEX "customers_program_status_idx" ON "customers" USING btree ("program_id","status");--> statement-breakpoint
CREATE INDEX "customers_sales_owner_idx" ON "customers" USING btree ("sales_owner_id");--> statement-breakpoint
CREATE INDEX "customers_program_name_idx" ON "customers" USING btree ("program_id","name","id");--> statement-breakpoint
CREATE INDEX "customers_updated_at_idx" ON "customers" USING btree ("updated_at","id");--> statement-breakpoint
CREATE INDEX "customers_planned_migration_idx" ON "customers" USING btree ("planned_migration_at","id");--> statement-breakpoint
CREATE INDEX "domains_customer_idx" ON "domains" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "domains_next_check_idx" ON "domains" USING btree ("next_check_at");--> statement-breakpoint
CREATE INDEX "domains_program_verdict_idx" ON "domains" USING btree ("program_id","latest_verdict");--> statement-breakpoint
CREATE INDEX "status_events_customer_at_idx" ON "status_events" USING btree ("customer_id","at");--> statement-breakpoint
CREATE INDEX "status_events_at_idx" ON "status_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "dns_checks_domain_checked_idx" ON "dns_checks" USING btree ("domain_id","checked_at");--> statement-breakpoint
CREATE INDEX "tasks_assignee_status_idx" ON "tasks" USING btree ("assignee_id","status","due_at");--> statement-breakpoint
CREATE INDEX "tasks_program_status_due_idx" ON "tasks" USING btree ("program_id","status","due_at");--> statement-breakpoint
CREATE INDEX "tasks_customer_idx" ON "tasks" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "tasks_escalated_from_idx" ON "tasks" USING btree ("escalated_from_id");--> statement-breakpoint
CREATE INDEX "api_tokens_created_at_idx" ON "api_tokens" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "audit_log_entity_idx" ON "audit_log" USING btree ("entity_type","entity_id","at");--> statement-breakpoint
CREATE INDEX "outbox_pending_idx" ON "outbox" USING btree ("available_at","id") WHERE "outbox"."dispatched_at" IS NULL;--> statement-breakpoint
CREATE INDEX "outbox_dispatched_idx" ON "outbox" USING btree ("dispatched_at") WHERE "outbox"."dispatched_at" IS NOT NULL;