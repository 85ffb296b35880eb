import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

describe('loadConfig', () => {
  it('runs embedded on defaults: PGlite in ./data, in-process jobs, port 3000', () => {
    const config = loadConfig({});
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.DNS_SERVERS).toBeUndefined();
    expect(config).toMatchObject({
      DATA_DIR: path.resolve('./data'),
      PORT: 3000,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DNS_TIMEOUT_MS: 2000,
    });
  });

  it('treats empty variables as unset and parses DNS servers with ports', () => {
    const config = loadConfig({ DATABASE_URL: '', REDIS_URL: '', DNS_SERVERS: '127.0.0.1:5353, [::1]:53,192.0.2.1' });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.DNS_SERVERS).toEqual(['127.0.0.1:5353', '[::1]:53', '192.0.2.1']);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'http://localhost'],
    ['LOG_LEVEL', 'loud'],
    ['DNS_SERVERS', 'dns.example.com'],
    ['DNS_TIMEOUT_MS', '0'],
    ['QUEUE_PREFIX', 'a:b'],
  ])('fails with the variable name and the value when %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}: .*\\(got "${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\)`));
  });

  it('lists every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT[\s\S]*LOG_LEVEL/);
  });
});
