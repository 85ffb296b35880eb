import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { taskKinds, taskStatuses } from '../../db/schema/enums.ts';
import { problem } from '../http/problems.ts';
import { IdParams, QueryList, Timestamp } from '../http/common-schemas.ts';
import { Page, PageQuery } from '../http/pagination.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { actOnTask, listTasks } from './task-service.ts';

const Task = z
  .object({
    id: z.uuid(),
    programId: z.uuid(),
    customerId: z.uuid().nullable(),
    domainId: z.uuid().nullable(),
    assigneeId: z.uuid(),
    kind: z.enum(taskKinds),
    milestone: z.string().meta({ description: 'e.g. T-30 for a reminder, W2 for the second clean-up week' }),
    status: z.enum(taskStatuses),
    title: z.string(),
    details: z.record(z.string(), z.unknown()),
    dueAt: Timestamp,
    snoozedUntil: Timestamp.nullable(),
    overdue: z.boolean(),
    escalatedFromId: z.uuid().nullable(),
    closedAt: Timestamp.nullable(),
    closeReason: z.string().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'Task' });

const TaskQuery = PageQuery.extend({
  assignee: z
    .string()
    .max(64)
    .optional()
    .meta({ description: '"me" (the sales owner the token is bound to: a sales token\u2019s, or a manager\u2019s own record) or a sales owner id' }),
  status: QueryList(z.enum(taskStatuses)).optional().meta({ description: 'One or more of open, completed, dismissed, closed' }),
  overdue: z.stringbool().optional().meta({ description: 'Only open tasks past their due time and not snoozed' }),
  programId: z.uuid().optional(),
  customerId: z.uuid().optional(),
});

const notFound = problem('No such task visible to this token');
const notOpen = problem('The task is no longer open');

export const taskRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/tasks', {
    config: { access: 'any' },
    schema: {
      tags: ['tasks'],
      summary: 'Reminders, regressions and escalations by due date (sales: their own; managers: their department\u2019s)',
      querystring: TaskQuery,
      response: { 200: Page(Task).meta({ id: 'TaskPage' }), 400: problem('Invalid query') },
    },
    handler: async (request) => listTasks(app.db, request.query, principalOf(request), app.now()),
  });

  app.post('/tasks/:id/complete', {
    config: { access: 'any' },
    schema: {
      tags: ['tasks'],
      summary: 'Mark a task done',
      params: IdParams,
      response: { 200: Task, 400: problem('Invalid id'), 404: notFound, 409: notOpen },
    },
    handler: async (request) => actOnTask(app.db, request.params.id, { kind: 'complete' }, principalOf(request), actorOf(request), app.now()),
  });

  app.post('/tasks/:id/dismiss', {
    config: { access: 'any' },
    schema: {
      tags: ['tasks'],
      summary: 'Dismiss a task, saying why',
      params: IdParams,
      body: z.strictObject({ reason: z.string().trim().min(1).max(2000) }).meta({ examples: [{ reason: '顧客は契約終了予定' }] }),
      response: { 200: Task, 400: problem('A field is invalid'), 404: notFound, 409: notOpen },
    },
    handler: async (request) =>
      actOnTask(app.db, request.params.id, { kind: 'dismiss', reason: request.body.reason }, principalOf(request), actorOf(request), app.now()),
  });

  app.post('/tasks/:id/snooze', {
    config: { access: 'any' },
    schema: {
      tags: ['tasks'],
      summary: 'Snooze a task until a time (at most 90 days), saying why; it does not escalate meanwhile',
      params: IdParams,
      body: z
        .strictObject({
          until: Timestamp,
          reason: z.string().trim().min(1).max(2000).optional().meta({ description: 'Why it waits; kept in the audit log (the web app asks for it)' }),
        })
        .meta({ examples: [{ until: '2022-07-01T09:00:00+09:00', reason: '先方の返事待ち' }] }),
      response: { 200: Task, 400: problem('A field is invalid'), 404: notFound, 409: notOpen },
    },
    handler: async (request) =>
      actOnTask(
        app.db,
        request.params.id,
        { kind: 'snooze', until: new Date(request.body.until), reason: request.body.reason },
        principalOf(request),
        actorOf(request),
        app.now(),
      ),
  });
};
