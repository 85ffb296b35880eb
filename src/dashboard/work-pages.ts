import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IdParams, IsoDate } from '../http/common-schemas.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { startOfDayIn } from '../lib/calendar.ts';
import { getProgram, listPrograms } from '../programs/program-service.ts';
import { customerNames, customersNeedingAction } from '../reports/work-service.ts';
import { actOnTask, listTasks } from '../tasks/task-service.ts';
import { contextOf, flashOf, formOf, html, PageQuery, parseForm, returnPath, seeOther, withNotice } from './dashboard-http.ts';
import { notBoundPage, programsPage, workPage } from './work-views.ts';

const Snooze = z.object({ until: IsoDate, reason: z.string().trim().min(1).max(2000), programId: z.uuid() });
const Dismiss = z.object({ reason: z.string().trim().min(1).max(2000) });
const TaskVerb = IdParams.extend({ verb: z.enum(['complete', 'snooze', 'dismiss']) });

/** My work (the landing page of a token bound to a sales owner), the programs, and the task actions. */
export const workPages: FastifyPluginAsyncZod = async (app) => {
  /** Each program's time zone, for showing its tasks' times. */
  async function timeZones() {
    const { items } = await listPrograms(app.db, 200);
    const zones = new Map(items.map((p) => [p.id, p.timezone]));
    return { programs: items, zoneOf: (id: string) => zones.get(id) ?? 'UTC' };
  }

  async function work(request: Parameters<typeof contextOf>[0], reply: Parameters<typeof contextOf>[1]) {
    const ctx = contextOf(request, reply);
    const viewer = principalOf(request);
    if (!viewer.salesOwnerId) return html(reply, notBoundPage(ctx));
    const now = app.now();
    const [tasks, customers, zones] = await Promise.all([
      listTasks(app.db, { limit: 200, assignee: 'me', status: ['open'] }, viewer, now),
      customersNeedingAction(app.db, viewer.salesOwnerId, viewer, now),
      timeZones(),
    ]);
    const names = await customerNames(
      app.db,
      tasks.items.flatMap((x) => (x.customerId ? [x.customerId] : [])),
      viewer,
    );
    return html(reply, workPage(ctx, tasks.items, names, customers, zones.zoneOf, flashOf(request, ctx.lang)));
  }

  app.get('/', {
    config: { page: 'any' },
    schema: { hide: true, querystring: PageQuery },
    handler: async (request, reply) => {
      if (principalOf(request).salesOwnerId) return work(request, reply);
      const { programs } = await timeZones();
      return html(reply, programsPage(contextOf(request, reply), programs));
    },
  });

  app.get('/work', { config: { page: 'any' }, schema: { hide: true, querystring: PageQuery }, handler: work });

  app.get('/programs', {
    config: { page: 'any' },
    schema: { hide: true, querystring: PageQuery },
    handler: async (request, reply) => html(reply, programsPage(contextOf(request, reply), (await timeZones()).programs)),
  });

  app.post('/tasks/:id/:verb', {
    config: { page: 'any' },
    schema: { hide: true, params: TaskVerb },
    handler: async (request, reply) => {
      const form = formOf(request);
      const { id, verb } = request.params;
      const args = [principalOf(request), actorOf(request), app.now()] as const;
      if (verb === 'complete') await actOnTask(app.db, id, { kind: 'complete' }, ...args);
      if (verb === 'dismiss') await actOnTask(app.db, id, { kind: 'dismiss', reason: parseForm(Dismiss, form).reason }, ...args);
      if (verb === 'snooze') {
        const input = parseForm(Snooze, form);
        const { timezone } = await getProgram(app.db, input.programId);
        await actOnTask(app.db, id, { kind: 'snooze', until: startOfDayIn(input.until, timezone), reason: input.reason }, ...args);
      }
      const notice = verb === 'complete' ? 'taskDone' : verb === 'snooze' ? 'taskSnoozed' : 'taskDismissed';
      return seeOther(reply, withNotice(returnPath(form.return, '/dashboard/work'), notice));
    },
  });
};
