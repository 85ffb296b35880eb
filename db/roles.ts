import type pg from 'pg';

/*
 * Least privilege in PostgreSQL. With DATABASE_OWNER_URL set, migrations run as that role (the owner of
 * every table), and the service connects as the role of DATABASE_URL, which this module creates if
 * need be and grants only what the service does: read and write the tables, but on audit_log only
 * SELECT and INSERT, and nothing of the schema (no DDL, so it can neither alter a table nor disable the
 * audit log's append-only trigger, which only the owner may).
 */

/** The role name in a postgres:// URL. */
export const roleOf = (url: string) => decodeURIComponent(new URL(url).username);

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/**
 * Makes the service role of `serviceUrl` exist (with the URL's password, if it has one) and hold exactly
 * the service's privileges on the schema `client` has just migrated. Idempotent: run after every
 * migration, so a table a migration adds is granted too.
 */
export async function grantServiceRole(client: pg.PoolClient, serviceUrl: string): Promise<void> {
  const role = roleOf(serviceUrl);
  const password = decodeURIComponent(new URL(serviceUrl).password);
  const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount! > 0;
  if (!exists) await client.query(`CREATE ROLE ${ident(role)} LOGIN${password ? ` PASSWORD ${literal(password)}` : ''}`);
  const r = ident(role);
  for (const statement of [
    `GRANT CONNECT ON DATABASE ${ident((await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db)} TO ${r}`,
    `GRANT USAGE ON SCHEMA public TO ${r}`,
    `REVOKE CREATE ON SCHEMA public FROM ${r}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${r}`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${r}`,
    // The audit log is append-only: what a service role cannot be granted, nobody can use through it.
    `REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM ${r}`,
  ]) {
    await client.query(statement);
  }
}
