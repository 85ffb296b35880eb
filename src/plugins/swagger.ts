import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import packageJson from '../../package.json' with { type: 'json' };

/**
 * The zod registry emits an input and an output variant of every named schema; drop the components
 * that no operation references, so the contract lists only what the API really takes and returns.
 */
type OpenApiDocument = ReturnType<typeof jsonSchemaTransformObject>;

function pruneUnreferencedSchemas(document: OpenApiDocument): OpenApiDocument {
  const { components } = document as { components?: { schemas?: Record<string, unknown> } };
  const schemas = components?.schemas;
  if (!schemas) return document;
  const referenced = new Set<string>();
  const visit = (text: string) => {
    for (const m of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      if (!referenced.has(m[1]!)) {
        referenced.add(m[1]!);
        visit(JSON.stringify(schemas[m[1]!] ?? {}));
      }
    }
  };
  visit(JSON.stringify({ ...document, components: { ...components, schemas: {} } }));
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => referenced.has(name)));
  return { ...document, components: { ...components, schemas: kept } } as OpenApiDocument;
}

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
            "(MX, SPF, DMARC), so the legacy SPF record can be deleted without breaking anyone's mail. " +
            'Every error is RFC 9457 application/problem+json.',
        },
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token (`mdt_…`) from `npm run cli -- token create`' },
          },
        },
        tags: [
          { name: 'programs', description: 'One program per decommission' },
          { name: 'sales owners', description: 'The people accountable for customers, with department and manager' },
          { name: 'customers', description: 'Legacy contracts moving through the migration workflow' },
          { name: 'contacts', description: 'The people at a customer, and the log of calls, emails and meetings with them' },
          { name: 'outreach', description: 'Reaching customers: self-check links to a page without an account, and notices with their exact records' },
          { name: 'domains', description: 'Mail domains of customers, each with its latest DNS verdict' },
          { name: 'imports', description: 'Bulk import of the legacy customer list' },
          { name: 'tasks', description: 'Reminders, regressions and escalations assigned to sales owners and managers' },
          { name: 'reports', description: 'What breaks if the legacy SPF record is deleted, and exports for managers' },
          { name: 'tokens', description: 'API tokens: create (shown once), list, revoke' },
          { name: 'sessions', description: 'Dashboard sign-ins, for admins to see and end' },
          { name: 'operations', description: 'Health, readiness and metrics' },
        ],
      },
      transform: (route) => {
        const result = jsonSchemaTransform(route);
        // zod leaves `examples` out of input schemas that transform (ours normalize DNS names): put them back.
        const examples = route.schema?.body ? z.globalRegistry.get(route.schema.body as z.ZodType)?.examples : undefined;
        const body = (result.schema as { body?: Record<string, unknown> }).body;
        if (examples && body) body.examples = examples;
        return result;
      },
      transformObject: (document) => pruneUnreferencedSchemas(jsonSchemaTransformObject(document)),
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'swagger' },
);
