import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { IdParams } from '../http/common-schemas.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { CreateProgram } from '../programs/program-schemas.ts';
import { createProgram, listPrograms } from '../programs/program-service.ts';
import { allPages } from '../reports/report-service.ts';
import { CreateSalesOwner, PatchSalesOwner } from '../sales-owners/sales-owner-schemas.ts';
import { createSalesOwner, listSalesOwners, updateSalesOwner } from '../sales-owners/sales-owner-service.ts';
import { listTokens } from '../tokens/token-repository.ts';
import { CreateToken } from '../tokens/token-routes.ts';
import { createToken, describeToken, revokeToken } from '../tokens/token-service.ts';
import { adminPage, type AdminData } from './admin-views.ts';
import { contextOf, errorText, flashOf, formOf, formVersion, html, orNull, PageQuery, parseForm, seeOther, shownError, withNotice } from './dashboard-http.ts';
import { escapeHtml, type Flash } from './dashboard-layout.ts';

const list = (value: string | undefined) => (value ?? '').split(/[\s,]+/).filter(Boolean);

/** Admin: onboarding and offboarding without stopping the server, through the services the API uses. */
export const adminPages: FastifyPluginAsyncZod = async (app) => {
  async function show(request: FastifyRequest, reply: FastifyReply, flash: Flash | null, extra: Partial<AdminData> = {}, status = 200) {
    const viewer = principalOf(request);
    const owners = [];
    for await (const o of allPages((cursor) => listSalesOwners(app.db, { limit: 200, cursor }, viewer))) owners.push(o);
    const [tokens, programs] = await Promise.all([listTokens(app.db), listPrograms(app.db, 200)]);
    const data: AdminData = { owners, tokens: tokens.map(describeToken), programs: programs.items, ...extra };
    return html(reply, adminPage(contextOf(request, reply), data, flash), status);
  }

  /** Runs an admin change; a refusal re-draws the page with its reason and what was typed. */
  async function change(request: FastifyRequest, reply: FastifyReply, run: () => Promise<string | Partial<AdminData>>, typed: Record<string, string> = {}) {
    try {
      const done = await run();
      return typeof done === 'string' ? seeOther(reply, done) : show(request, reply, null, done, 201);
    } catch (err) {
      const refused = shownError(err);
      if (!refused) throw err;
      return show(request, reply, { kind: 'error', html: escapeHtml(errorText(refused)) }, { form: typed }, refused.statusCode);
    }
  }

  app.get('/admin', {
    config: { page: 'admin' },
    schema: { hide: true, querystring: PageQuery },
    handler: async (request, reply) => show(request, reply, flashOf(request, contextOf(request, reply).lang)),
  });

  app.post('/admin/owners', {
    config: { page: 'admin' },
    schema: { hide: true },
    handler: async (request, reply) => {
      const form = formOf(request);
      return change(
        request,
        reply,
        async () => {
          const input = parseForm(CreateSalesOwner, { name: form.name, email: form.email, department: form.department, managerId: orNull(form.managerId) });
          await createSalesOwner(app.db, input, principalOf(request), actorOf(request), app.now());
          return withNotice('/dashboard/admin', 'ownerSaved');
        },
        { ownerName: form.name ?? '', email: form.email ?? '', department: form.department ?? '', managerId: form.managerId ?? '' },
      );
    },
  });

  app.post('/admin/owners/:id', {
    config: { page: 'admin' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) => {
      const form = formOf(request);
      return change(request, reply, async () => {
        const version = formVersion(form);
        const patch = parseForm(PatchSalesOwner, {
          ...('managerId' in form ? { managerId: orNull(form.managerId) } : {}),
          ...('active' in form ? { active: form.active === 'true' } : {}),
        });
        await updateSalesOwner(app.db, request.params.id, patch, version, principalOf(request), actorOf(request), app.now());
        return withNotice('/dashboard/admin', 'ownerSaved');
      });
    },
  });

  app.post('/admin/tokens', {
    config: { page: 'admin' },
    schema: { hide: true },
    handler: async (request, reply) => {
      const form = formOf(request);
      return change(
        request,
        reply,
        async () => {
          const input = parseForm(CreateToken, {
            name: form.name,
            role: form.role,
            salesOwnerId: orNull(form.salesOwnerId) ?? undefined,
            department: orNull(form.department) ?? undefined,
            expiresInDays: orNull(form.expiresInDays) === null ? undefined : Number(form.expiresInDays),
          });
          const now = app.now();
          const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000) : undefined;
          const { token } = await createToken(app.db, { ...input, expiresAt }, actorOf(request), now);
          // Shown in this answer only: never in a URL, a redirect or a log.
          return { created: { name: input.name, token } };
        },
        {
          tokenName: form.name ?? '',
          role: form.role ?? '',
          salesOwnerId: form.salesOwnerId ?? '',
          tokenDepartment: form.department ?? '',
          expiresInDays: form.expiresInDays ?? '',
        },
      );
    },
  });

  app.post('/admin/tokens/:id/revoke', {
    config: { page: 'admin' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) =>
      change(request, reply, async () => {
        await revokeToken(app.db, request.params.id, actorOf(request), app.now());
        return withNotice('/dashboard/admin', 'tokenRevoked');
      }),
  });

  app.post('/admin/programs', {
    config: { page: 'admin' },
    schema: { hide: true },
    handler: async (request, reply) => {
      const form = formOf(request);
      return change(
        request,
        reply,
        async () => {
          const input = parseForm(CreateProgram, {
            name: form.programName,
            legacyService: form.legacyService,
            successorService: form.successorService,
            shutdownAt: form.shutdownAt,
            spfRecordDeletionAt: orNull(form.spfRecordDeletionAt),
            timezone: form.timezone,
            legacy: { mxHostSuffixes: list(form.legacyMx), spfIncludes: list(form.legacySpf) },
            successor: { mxHostSuffixes: list(form.successorMx), spfIncludes: list(form.successorSpf) },
            escalationContactId: orNull(form.escalationContactId),
          });
          await createProgram(app.db, input, actorOf(request), app.now());
          return withNotice('/dashboard/admin', 'programCreated');
        },
        form,
      );
    },
  });
};
