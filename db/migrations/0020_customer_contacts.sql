-- Customer contacts (issue 19): the people the team talks to at a customer, technical or business, with
-- the language notices to them are written in; at least an email or a phone each.
CREATE TABLE "customer_contacts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"customer_id" uuid NOT NULL,
	"name" text NOT NULL,
	"email" text,
	"phone" text,
	"role" text NOT NULL,
	"language" text DEFAULT 'ja' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customer_contacts_role_check" CHECK (role IN ('technical', 'business')),
	CONSTRAINT "customer_contacts_language_check" CHECK (language IN ('ja', 'en')),
	CONSTRAINT "customer_contacts_reachable_check" CHECK (email IS NOT NULL OR phone IS NOT NULL)
);
--> statement-breakpoint
ALTER TABLE "customer_contacts" ADD CONSTRAINT "customer_contacts_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "customer_contacts_customer_idx" ON "customer_contacts" USING btree ("customer_id");