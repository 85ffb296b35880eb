-- The customer import takes a manager_email column (issue 18): the sales owner's manager, another sales
-- owner by email. Staged rows carry it from the parse to the plan; they are removed once the import ends.
ALTER TABLE "import_rows" ADD COLUMN "manager_email" text;