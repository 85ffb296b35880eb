import Fastify from 'fastify';

/** The API benchmark's limit: a Fastify hello-world route in a process of its own. Prints its port. */
const app = Fastify();
app.get('/', async () => ({ hello: 'world' }));
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${new URL(address).port}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
