import { pino, type LoggerOptions } from 'pino';
import type { Config } from './config.ts';

/*
 * What the service logs, for every process (API, worker, CLI): pino, with secrets and personal data
 * kept out. Headers and bodies are never logged; what could carry a secret anyway is redacted.
 */

/** Query parameters that carry a credential when a client puts one in the URL. */
const SECRET_PARAMETERS = /^(token|access_token|api_key|apikey|key|secret|password)$/i;

/** A URL with the values of credential-bearing query parameters replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // a malformed escape: judged as it stands
      }
      return eq >= 0 && SECRET_PARAMETERS.test(decoded) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${query.join('&')}`;
}

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's request serializer, with the URL's credentials redacted (a token sent as ?token=… stays out of the log). */
const requestForLog = (req: LoggedRequest) => ({
  method: req.method,
  url: typeof req.url === 'string' ? redactUrl(req.url) : undefined,
  host: req.host,
  remoteAddress: req.ip,
  remotePort: req.socket?.remotePort,
});

/**
 * pino's error serializer, without SQL parameters: a failed query's error (drizzle's, at any depth of
 * `cause`) carries the statement's values — customer names, notes, emails — in its message and its
 * `params`. The statement itself stays: it says what failed.
 */
export function errorForLog(err: unknown): unknown {
  return scrubParameters(pino.stdSerializers.err(err as Error), 0);
}

function scrubParameters(value: unknown, depth: number): unknown {
  if (!value || typeof value !== 'object' || depth > 5) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    // A constraint's detail quotes the row ("Key (email)=(…) already exists", "Failing row contains (…)").
    if (key === 'params' || key === 'parameters' || key === 'detail') out[key] = '[redacted]';
    else if (typeof item === 'string' && (key === 'message' || key === 'stack'))
      out[key] = item.replace(/\nparams: [\s\S]*?(?=\n {4}at |$)/, '\nparams: [redacted]');
    else if (key === 'cause' || key === 'err' || key === 'error') out[key] = scrubParameters(item, depth + 1);
    else out[key] = item;
  }
  return out;
}

export function loggerOptions(config: Pick<Config, 'LOG_LEVEL'>): LoggerOptions {
  return {
    level: config.LOG_LEVEL,
    // Fastify logs no headers or bodies by default; these cover anything that would log them anyway.
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        'token',
        '*.token',
        '*.secret',
        '*.password',
        '*.NOTIFY_WEBHOOK_SECRET',
        '*.DATABASE_URL',
        '*.DATABASE_OWNER_URL',
      ],
      censor: '[redacted]',
    },
    serializers: { req: requestForLog, err: errorForLog },
    ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
}
