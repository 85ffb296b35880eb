import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { deliverNotifications } from '../../src/notifications/notification-service.ts';
import type { JobProcessor } from '../context.ts';

/** Every minute: sends due notifications to the webhook, signed; retries with backoff. */
export const deliverNotificationsJob: JobProcessor<JobPayload<'notifications', 'deliver-notifications'>> = async (_data, { deps }) =>
  deliverNotifications(deps.db, deps.now(), deps.webhook, deps.log);
