-- Self-check links (issue 19): a customer's DNS administrator opens /check/{token} without an account;
-- only the token's SHA-256 is stored.
CREATE TABLE "self_check_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"customer_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoked_by" text,
	"last_opened_at" timestamp with time zone,
	"rechecked_at" timestamp with time zone[] DEFAULT '{}' NOT NULL,
	CONSTRAINT "self_check_links_token_hash_key" UNIQUE("token_hash")
);
--> statement-breakpoint
ALTER TABLE "self_check_links" ADD CONSTRAINT "self_check_links_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "self_check_links_customer_idx" ON "self_check_links" USING btree ("customer_id");