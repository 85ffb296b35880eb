ALTER TABLE "programs" ADD COLUMN "check_interval_action_hours" integer DEFAULT 6 NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "check_interval_clean_hours" integer DEFAULT 24 NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "check_interval_completed_hours" integer DEFAULT 168 NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "urgent_window_days" integer DEFAULT 14 NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "urgent_interval_hours" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "auto_progress" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "on_demand_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "dns_checks" ADD COLUMN "verdict_changed" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "dns_checks" ADD COLUMN "trigger" text DEFAULT 'sweep' NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD CONSTRAINT "programs_check_intervals_positive" CHECK ("programs"."check_interval_action_hours" > 0 AND "programs"."check_interval_clean_hours" > 0 AND "programs"."check_interval_completed_hours" > 0 AND "programs"."urgent_interval_hours" > 0 AND "programs"."urgent_window_days" >= 0);--> statement-breakpoint
ALTER TABLE "dns_checks" ADD CONSTRAINT "dns_checks_trigger_valid" CHECK ("dns_checks"."trigger" IN ('sweep', 'on_demand', 'cli'));