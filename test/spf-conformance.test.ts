import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../src/dns/resolver.ts';
import { checkHost } from '../src/dns/spf/check-host.ts';
import { TestDnsServer, type Zone, type ZoneEntry, type ZoneRecord } from './helpers/dns-server.ts';

/**
 * The RFC 7208 conformance suite (openspf.org / pyspf), third-party data read from ../shared beside
 * the checkout and never copied into the project. Each scenario's zone is served by a real DNS
 * server on 127.0.0.1 and every test goes through the production resolver into checkHost().
 */
const suitePath = path.resolve(import.meta.dirname, '..', '..', 'shared', 'spf-conformance', 'rfc7208-tests.yml');
const present = fs.existsSync(suitePath);

interface SuiteTest {
  host: string;
  helo: string;
  mailfrom: string;
  result: string | string[];
  explanation?: string;
  spec?: string | string[];
  description?: string;
}
interface Scenario {
  description: string;
  tests: Record<string, SuiteTest>;
  zonedata?: Record<string, (Record<string, unknown> | string)[]>;
}

const scenarios: Scenario[] = present ? parseAllDocuments(fs.readFileSync(suitePath, 'utf8')).map((d) => d.toJS() as Scenario) : [];

/** The pyspf driver's reading of zonedata (see the suite's README). */
function toZone(zonedata: Scenario['zonedata'] = {}): Zone {
  const zone: Zone = new Map();
  for (const [rawName, entries] of Object.entries(zonedata)) {
    const name = rawName.toLowerCase().replace(/\.$/, '');
    const entry: ZoneEntry = { records: [], faults: {} };
    const hasTxt = entries.some((e) => typeof e === 'object' && 'TXT' in e);
    for (const e of entries) {
      if (e === 'TIMEOUT') {
        // In the driver a bare TIMEOUT times out the types the name has no data for.
        entry.faultWhenEmpty = 'timeout';
        continue;
      }
      const [type, value] = Object.entries(e as Record<string, unknown>)[0]!;
      if (value === 'TIMEOUT') {
        entry.faults![type === 'SPF' ? 'TXT' : type] = 'timeout';
        continue;
      }
      if (value === 'NONE') continue;
      // RFC 7208 dropped type SPF; the driver serves SPF data as TXT unless TXT is given.
      if (type === 'SPF' && hasTxt) continue;
      if ((type === 'TXT' || type === 'SPF') && Array.isArray(value) && value.length === 0) {
        // "Null text" (a TXT RR with no strings) cannot go on the wire: RFC 1035 TXT-DATA is one or
        // more character-strings, and resolvers reject RDLENGTH 0 as a malformed answer. A real server
        // can publish at most one empty string, which is what this serves.
        entry.records!.push({ type: 'TXT', data: [''] });
        continue;
      }
      entry.records!.push({ type: type === 'SPF' ? 'TXT' : type, data: value } as ZoneRecord);
    }
    zone.set(name, entry);
  }
  return zone;
}

/** Justified deviations from the suite: none. A deviation would be listed here with its reason. */
const deviations: Record<string, string> = {};

if (present)
  describe('RFC 7208 conformance suite', () => {
    for (const scenario of scenarios) {
      describe(scenario.description, () => {
        let server: TestDnsServer;
        beforeAll(async () => {
          server = await TestDnsServer.start(toZone(scenario.zonedata));
          // The driver times out on unlisted names under "error.".
          server.onMissing = (name) => (name.startsWith('error.') ? { fault: 'timeout' } : undefined);
        });
        afterAll(() => server.close());

        for (const [id, test] of Object.entries(scenario.tests)) {
          it.skipIf(id in deviations)(`${id} (${[test.spec].flat().join(', ')})`, async () => {
            const dns = createResolver({ servers: [server.address], timeoutMs: 400, tries: 1 });
            const mailfrom = test.mailfrom ?? '';
            const at = mailfrom.lastIndexOf('@');
            const sender = mailfrom === '' ? `postmaster@${test.helo}` : mailfrom;
            const domain = mailfrom === '' || at === -1 ? test.helo : mailfrom.slice(at + 1);
            const outcome = await checkHost(test.host, domain, sender, { dns, helo: test.helo, receiver: 'unknown' });
            const accepted = [test.result].flat();
            expect(accepted, `${outcome.result}: ${outcome.reason}`).toContain(outcome.result);
            // "DEFAULT" is the suite's word for the implementation's own default explanation: we give none.
            if (test.explanation !== undefined && outcome.result === 'fail') {
              expect(outcome.explanation).toBe(test.explanation === 'DEFAULT' ? undefined : test.explanation);
            }
          });
        }
      });
    }
  });
else {
  // CI has ../shared beside the checkout: there a missing suite is a failure, not a skip.
  if (process.env.CI) throw new Error(`CI needs the SPF conformance suite at ${suitePath} (../shared beside the checkout)`);
  console.warn(`SPF conformance suite skipped: ${suitePath} is not there (it lives in ../shared beside the checkout; CI has it)`);
  describe('RFC 7208 conformance suite', () => {
    it.skip(`is not beside this checkout (${suitePath}); CI has it there, a user's clone may not`, () => {});
  });
}
