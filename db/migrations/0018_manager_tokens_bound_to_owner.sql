-- Managers are people too (issue 18): a manager token may also be bound to the manager's own
-- sales-owner record, so "assignee=me" works for them and the escalations of their owners (assigned to
-- that record) reach the person the token belongs to. It still sees its whole department.
ALTER TABLE "api_tokens" DROP CONSTRAINT "api_tokens_role_binding";--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_role_binding" CHECK (("api_tokens"."role" = 'sales' AND "api_tokens"."sales_owner_id" IS NOT NULL AND "api_tokens"."department" IS NULL) OR ("api_tokens"."role" = 'manager' AND "api_tokens"."department" IS NOT NULL) OR ("api_tokens"."role" = 'admin' AND "api_tokens"."sales_owner_id" IS NULL AND "api_tokens"."department" IS NULL));