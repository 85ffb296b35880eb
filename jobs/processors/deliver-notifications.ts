import { z } from 'zod';
import { deliverNotifications } from '../../src/notifications/notification-service.ts';
import type { Processor } from '../context.ts';

export const DeliverNotifications = z.object({});

/** Every minute: sends due notifications to the webhook, signed; retries with backoff. */
export const deliverNotificationsJob: Processor<z.infer<typeof DeliverNotifications>> = async (_data, { deps }) =>
  deliverNotifications(deps.db, deps.now(), deps.webhook, deps.log);
