import { createHmac, randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { serviceKeys } from '../../db/schema/index.ts';

/*
 * The key self-check tokens are made with: LINK_SECRET when configured, else one the service makes
 * once and keeps in service_keys (the one writer of that table). A token is the HMAC of its link's id,
 * so a notice rendered later carries the same URL, while the link's row keeps only the token's hash.
 */

const NAME = 'links';

async function storedKey(db: Db): Promise<Buffer> {
  await db
    .insert(serviceKeys)
    .values({ name: NAME, key: randomBytes(32) })
    .onConflictDoNothing();
  const [row] = await db.select({ key: serviceKeys.key }).from(serviceKeys).where(eq(serviceKeys.name, NAME));
  return row!.key;
}

/** The token of a link: base64url HMAC-SHA256 of its id. */
export async function linkToken(db: Db, linkId: string, secret: string | undefined): Promise<string> {
  const key = secret ?? (await storedKey(db));
  return createHmac('sha256', key).update(linkId).digest('base64url');
}
