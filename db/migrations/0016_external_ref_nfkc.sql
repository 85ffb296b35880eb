-- External refs in one spelling (issue 17): NFKC, as the API and the import now store them, so a
-- re-import of `ZW-1` finds the customer stored as `ＺＷ-1`. A ref whose normal form another customer
-- of the program shares is left as it is (renaming it would break the unique key): those look-alikes
-- stay apart, as before.
UPDATE "customers" c SET "external_ref" = normalize(c."external_ref", NFKC)
WHERE c."external_ref" IS NOT NFKC NORMALIZED
  AND NOT EXISTS (SELECT 1 FROM "customers" o WHERE o."program_id" = c."program_id" AND o."id" <> c."id" AND normalize(o."external_ref", NFKC) = normalize(c."external_ref", NFKC));
