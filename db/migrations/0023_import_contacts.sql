-- The customer import takes contact_name, contact_email and contact_language (issue 19): a technical
-- contact per customer. Staged rows carry it from the parse to the plan; they are removed once the import ends.
ALTER TABLE "import_rows" ADD COLUMN "contact_name" text;--> statement-breakpoint
ALTER TABLE "import_rows" ADD COLUMN "contact_email" text;--> statement-breakpoint
ALTER TABLE "import_rows" ADD COLUMN "contact_language" text;