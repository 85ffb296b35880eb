-- Imports become resources (issue 15): the file is stored as it arrives, then parsed and its rows
-- staged, then planned and written a batch at a time in one transaction; in the request for a small
-- file, by a job for a large one. One active import per program (partial unique index); the stored
-- file and the staged rows go when the import ends.
CREATE TABLE "import_chunks" (
	"import_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "import_chunks_import_id_seq_pk" PRIMARY KEY("import_id","seq")
);
--> statement-breakpoint
CREATE TABLE "import_rows" (
	"import_id" uuid NOT NULL,
	"line" integer NOT NULL,
	"external_ref" text NOT NULL,
	"name" text NOT NULL,
	"email" text NOT NULL,
	"owner_name" text,
	"department" text,
	"status" text,
	"planned_migration_at" date,
	"domains" text[] NOT NULL,
	"domain_display_names" text[] NOT NULL,
	"ref_first_line" integer,
	"domain_first_lines" jsonb,
	CONSTRAINT "import_rows_import_id_line_pk" PRIMARY KEY("import_id","line")
);
--> statement-breakpoint
CREATE TABLE "imports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"program_id" uuid NOT NULL,
	"state" text DEFAULT 'receiving' NOT NULL,
	"dry_run" boolean NOT NULL,
	"all_or_nothing" boolean NOT NULL,
	"encoding" text DEFAULT 'auto' NOT NULL,
	"actor" text NOT NULL,
	"actor_token_id" uuid,
	"request_id" text,
	"bytes_received" bigint DEFAULT 0 NOT NULL,
	"parsed_at" timestamp with time zone,
	"parse_errors" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"parse_error_count" integer DEFAULT 0 NOT NULL,
	"rows_read" integer DEFAULT 0 NOT NULL,
	"rows_planned" integer DEFAULT 0 NOT NULL,
	"rows_written" integer DEFAULT 0 NOT NULL,
	"result" jsonb,
	"failure" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "import_chunks" ADD CONSTRAINT "import_chunks_import_id_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "import_rows" ADD CONSTRAINT "import_rows_import_id_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "imports" ADD CONSTRAINT "imports_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "imports_one_active_per_program" ON "imports" USING btree ("program_id") WHERE "imports"."state" IN ('receiving', 'queued', 'running');--> statement-breakpoint
CREATE INDEX "imports_program_created_idx" ON "imports" USING btree ("program_id","created_at");