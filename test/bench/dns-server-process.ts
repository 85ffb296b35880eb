import { TestDnsServer } from '../helpers/dns-server.ts';
import { benchZone } from './bench-zone.ts';

/**
 * The benchmark's DNS server, in a process of its own so it does not share an event loop with the
 * checker. Prints its port; answers TXT "queries.stats.invalid" with the number of queries so far.
 */
const server = await TestDnsServer.start(benchZone(Number(process.argv[2] ?? 10_000)));
server.onMissing = (name) => (name === 'queries.stats.invalid' ? { records: [{ type: 'TXT', data: String(server.queries.length) }] } : undefined);
process.stdout.write(`${server.port}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
