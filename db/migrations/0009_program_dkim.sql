ALTER TABLE "programs" ADD COLUMN "legacy_dkim_selectors" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "legacy_dkim_targets" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "successor_dkim_selectors" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "programs" ADD COLUMN "successor_dkim_targets" text[] DEFAULT '{}' NOT NULL;