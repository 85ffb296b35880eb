import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import packageJson from '../../package.json' with { type: 'json' };

/** OpenAPI 3.1 generated from the route schemas; served at /openapi.json, browsable at /docs. */
export const swaggerPlugin = fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Mail decommission tracker',
          version: packageJson.version,
          description:
            'Tracks every customer of a retiring hosted-mail service through migration and verifies their DNS ' +
            '(MX, SPF, DMARC), so the legacy SPF record can be deleted without breaking anyone\'s mail. ' +
            'Every error is RFC 9457 application/problem+json.',
        },
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token (`mdt_…`) from `npm run cli -- token create`' },
          },
        },
        tags: [
          { name: 'programs', description: 'One program per decommission' },
          { name: 'operations', description: 'Health, readiness and metrics' },
        ],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'swagger' },
);
