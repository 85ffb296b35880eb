import type { FastifyRequest } from 'fastify';

/** Where people reach the service, for the links it hands out: PUBLIC_URL, else the address this request came to. */
export const publicBase = (request: FastifyRequest, configured: string | undefined) => configured ?? `${request.protocol}://${request.host}`;
