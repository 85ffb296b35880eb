import fp from 'fastify-plugin';
import nodemailer from 'nodemailer';
import type { MailTransport } from '../outreach/notice-service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The mail server notices go through (SMTP_URL); null when sending is not configured. */
    mail: MailTransport | null;
  }
}

/** One SMTP transport (nodemailer, pooled connections) for the API and the web app, closed with the app. */
export const mailPlugin = fp(
  async (app) => {
    const transport = app.config.SMTP_URL ? nodemailer.createTransport(app.config.SMTP_URL) : null;
    app.decorate('mail', transport);
    app.addHook('onClose', async () => transport?.close());
  },
  { name: 'mail' },
);
