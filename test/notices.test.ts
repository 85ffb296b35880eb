import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { unzipSync, strFromU8 } from 'fflate';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactEvents, customers, selfCheckLinks } from '../db/schema/index.ts';
import { createResolver } from '../src/dns/resolver.ts';
import { placeholders } from '../src/outreach/notice-templates.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer } from './helpers/dns-server.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/*
 * Outreach notices: templates (validated placeholders), the notice per customer as text, HTML and a
 * ready .eml, the bulk ZIP for mail merge, and sending through a local SMTP sink. Real PostgreSQL, a
 * DNS server on loopback for the checks the notice quotes, a real SMTP server.
 */

let dnsServer: TestDnsServer;
let smtp: SMTPServer;
let smtpPort: number;
const received: { from: string; to: string[]; raw: Buffer }[] = [];
let refuse = false;
let t: TestApp;
let admin: string;
let manager: string;
let rep: string;
let program: { id: string };
let owner: { id: string; name: string; email: string };

const FIXED = 'v=spf1 include:spf.gateway.example -all';

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      callback(refuse ? Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  dnsServer = await TestDnsServer.start();
  dnsServer.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
  dnsServer.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 -all' }] });
  t = await buildTestApp({
    dns: createResolver({ servers: [dnsServer.address], timeoutMs: 300, tries: 1 }),
    env: { SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, MAIL_FROM: '移行窓口 <desk@provider.example>', PUBLIC_URL: 'https://mdt.example.jp' },
  });
  program = await makeProgram(t.db, {
    legacyService: 'Legacy mail',
    successorService: 'Secure MX',
    legacySpfIncludes: ['spf.po.2iij.net'],
    legacyMxHostSuffixes: ['po.2iij.net'],
    successorSpfIncludes: ['spf.gateway.example'],
    successorMxHostSuffixes: ['mx.gateway.example'],
    shutdownAt: '2022-09-30',
    spfRecordDeletionAt: '2022-10-31',
  });
  const row = await makeSalesOwner(t.db, { name: '鈴木 一郎', department: '営業1部' });
  owner = { id: row.id, name: row.name, email: row.email };
  admin = (await makeToken(t.db, 'admin')).token;
  manager = (await makeToken(t.db, 'manager', { department: '営業1部' })).token;
  rep = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token;
});
afterAll(async () => {
  await t.close();
  await dnsServer.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

const call = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, body?: object) =>
  t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body ? { payload: body } : {}) });

let n = 0;
/** A customer whose one domain still includes the legacy record, checked, with a technical contact. */
async function customerToNotify(options: { contact?: 'ja' | 'en' | null; status?: 'not_contacted' | 'contacted' } = {}) {
  n++;
  const customer = await makeCustomer(t.db, program.id, owner.id, {
    name: `株式会社通知${n}`,
    externalRef: `N-${n}/${Date.now()}`,
    status: options.status ?? 'contacted',
  });
  const name = `notice${n}-${Date.now().toString(36)}.example.jp`;
  dnsServer.set(name, {
    records: [
      { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net include:spf.gateway.example -all' },
      { type: 'MX', data: [10, 'mx1.po.2iij.net'] },
    ],
  });
  const domain = await makeDomain(t.db, customer, { name, displayName: name });
  if (options.contact !== null) {
    const res = await call('POST', `/v1/customers/${customer.id}/contacts`, rep, {
      name: options.contact === 'en' ? 'Jane Admin' : '山田 花子',
      email: `dns${n}@customer.example`,
      role: 'technical',
      language: options.contact ?? 'ja',
    });
    expect(res.statusCode).toBe(201);
  }
  // A check through the API, as a rep asks for one; the in-process jobs run it.
  expect((await call('POST', `/v1/domains/${domain.id}/checks`, rep)).statusCode).toBe(202);
  await expect
    .poll(async () => (await call('GET', `/v1/domains/${domain.id}`, rep)).json().latestCheck?.verdict ?? null, { timeout: 10_000 })
    .toBe('needs_mx_and_spf');
  return { customer, domain, name, email: `dns${n}@customer.example` };
}

describe('notice templates', () => {
  it('ship in Japanese and English, take only known placeholders, and need {{domains}} in the body', async () => {
    const shipped = (await call('GET', `/v1/programs/${program.id}/notice-templates`, rep)).json();
    expect(shipped.ja).toMatchObject({ isDefault: true });
    expect(shipped.en.body).toContain('{{domains}}');
    expect(shipped.placeholders.map((p: { name: string }) => p.name)).toEqual(Object.keys(placeholders).map((k) => `{{${k}}}`));

    const typo = await call('PUT', `/v1/programs/${program.id}/notice-templates`, admin, {
      en: { subject: 'Hi {{customer}}', body: '{{domains}} {{self_check}}' },
    });
    expect(typo.statusCode).toBe(400);
    expect(typo.json().errors).toEqual([
      { path: 'body.en.subject', message: expect.stringContaining('unknown placeholder {{customer}}') },
      { path: 'body.en.body', message: expect.stringContaining('unknown placeholder {{self_check}}') },
    ]);
    const noDomains = await call('PUT', `/v1/programs/${program.id}/notice-templates`, admin, { ja: { subject: '件名', body: '本文 {{customer_name}' } });
    expect(noDomains.json().errors.map((e: { message: string }) => e.message)).toEqual([
      expect.stringContaining('unmatched'),
      expect.stringContaining('{{domains}}'),
    ]);
    expect((await call('PUT', `/v1/programs/${program.id}/notice-templates`, rep, { ja: null })).statusCode).toBe(403);
    expect((await call('GET', `/v1/programs/${program.id}/notice-templates`, rep)).json().en.isDefault).toBe(true);
  });

  it('render every placeholder in both languages', async () => {
    const { customer, name } = await customerToNotify();
    const link = (await call('POST', `/v1/customers/${customer.id}/self-check-links`, rep, {})).json();
    const every = Object.keys(placeholders)
      .map((p) => `${p}=[{{${p}}}]`)
      .join('\n\n');
    const saved = await call('PUT', `/v1/programs/${program.id}/notice-templates`, admin, {
      ja: { subject: '{{customer_name}} / {{legacy_service}}', body: every },
      en: { subject: '{{customer_name}} / {{successor_service}}', body: every },
    });
    expect(saved.statusCode).toBe(200);
    expect(saved.json().ja).toMatchObject({ isDefault: false, updatedBy: expect.stringMatching(/^token:/) });
    const expectations = {
      ja: { shutdown_date: '2022年9月30日', deletion_date: '2022年10月31日', record: '次のとおり置き換えてください' },
      en: { shutdown_date: '30 September 2022', deletion_date: '31 October 2022', record: 'replace the SPF record' },
    };
    for (const lang of ['ja', 'en'] as const) {
      const text = (await call('GET', `/v1/customers/${customer.id}/notice?lang=${lang}&format=text`, rep)).body;
      expect(text, lang).not.toMatch(/\{\{|\}\}/);
      const value = (p: string) => new RegExp(`${p}=\\[([\\s\\S]*?)\\]`).exec(text)?.[1];
      expect(value('customer_name')).toBe(customer.name);
      expect(value('contact_name')).toBe('山田 花子');
      expect(value('sales_owner_name')).toBe(owner.name);
      expect(value('legacy_service')).toBe('Legacy mail');
      expect(value('successor_service')).toBe('Secure MX');
      expect(value('shutdown_date')).toBe(expectations[lang].shutdown_date);
      expect(value('deletion_date')).toBe(expectations[lang].deletion_date);
      expect(value('self_check_url')).toBe(link.url);
      const domains = value('domains')!;
      expect(domains).toContain(`■ ${name}`);
      expect(domains).toContain(expectations[lang].record);
      expect(domains).toContain(`    ${FIXED}`);
      expect(domains).toContain('mx.gateway.example');
    }
    await call('PUT', `/v1/programs/${program.id}/notice-templates`, admin, { ja: null, en: null });
  });
});

describe('the notice of a customer', () => {
  it('is a ready .eml to the technical contact that parses back: MIME-encoded headers, UTF-8 text and HTML, the exact record', async () => {
    const { customer, name, email } = await customerToNotify();
    const res = await call('GET', `/v1/customers/${customer.id}/notice?format=eml`, rep);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('message/rfc822');
    const raw = res.rawPayload.toString('latin1');
    expect(raw).toMatch(/^Subject: =\?UTF-8\?[BQ]\?/im);
    expect(raw).toMatch(/^MIME-Version: 1\.0/im);
    const mail = await simpleParser(res.rawPayload);
    expect((mail.to as AddressObject).value).toEqual([{ name: '山田 花子', address: email }]);
    expect(mail.from!.value).toEqual([{ name: '移行窓口', address: 'desk@provider.example' }]);
    expect(mail.replyTo!.value).toEqual([{ name: owner.name, address: owner.email }]);
    expect(mail.subject).toBe(`【重要】Legacy mail 終了に伴う DNS 設定変更のお願い（${customer.name} 様）`);
    expect(mail.text).toContain(FIXED);
    expect(mail.text).toContain(name);
    expect(mail.html).toContain(`<pre`);
    expect(mail.html).toContain(FIXED);
    expect(mail.date).toBeInstanceOf(Date);

    const html = await call('GET', `/v1/customers/${customer.id}/notice?format=html&lang=en`, rep);
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.headers['content-language']).toBe('en');
    expect(html.body).toContain('<html lang="en">');
    expect(html.body).toContain(FIXED);
  });

  it('is written in the contact’s language unless asked; an .eml needs a technical contact with an email', async () => {
    const english = await customerToNotify({ contact: 'en' });
    const text = await call('GET', `/v1/customers/${english.customer.id}/notice`, rep);
    expect(text.headers['content-language']).toBe('en');
    expect(text.body).toMatch(/^Dear Jane Admin,/);
    const nobody = await customerToNotify({ contact: null });
    expect((await call('GET', `/v1/customers/${nobody.customer.id}/notice`, rep)).statusCode).toBe(200);
    const eml = await call('GET', `/v1/customers/${nobody.customer.id}/notice?format=eml`, rep);
    expect(eml.statusCode).toBe(409);
    expect(eml.json().code).toBe('APP_NOTICE_NO_RECIPIENT');
    expect((await call('GET', `/v1/customers/${english.customer.id}/notice?format=pdf`, rep)).json().errors[0].path).toBe('query.format');
  });

  it('is sent through SMTP_URL: to the contact, with a new self-check link, logged as an email, the customer contacted', async () => {
    const { customer, email } = await customerToNotify({ status: 'not_contacted' });
    received.length = 0;
    const res = await call('POST', `/v1/customers/${customer.id}/notice/send`, rep, {});
    expect(res.statusCode).toBe(200);
    const sent = res.json();
    expect(sent).toMatchObject({ to: { email }, lang: 'ja', selfCheckUrl: expect.stringMatching(/^https:\/\/mdt\.example\.jp\/check\//) });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ from: 'desk@provider.example', to: [email] });
    const mail = await simpleParser(received[0]!.raw);
    expect(mail.text).toContain(sent.selfCheckUrl);
    expect(mail.text).toContain(FIXED);
    // The link in the mail opens the customer's page.
    expect((await t.app.inject({ method: 'GET', url: new URL(sent.selfCheckUrl).pathname })).statusCode).toBe(200);
    const [row] = await t.db.select().from(customers).where(eq(customers.id, customer.id));
    expect(row!.status).toBe('contacted');
    const events = await t.db.select().from(contactEvents).where(eq(contactEvents.customerId, customer.id));
    expect(events).toEqual([expect.objectContaining({ kind: 'email', summary: expect.stringContaining('案内を送信') })]);
    // A second notice reuses the live link.
    const again = (await call('POST', `/v1/customers/${customer.id}/notice/send`, rep, {})).json();
    expect(again.linkId).toBe(sent.linkId);
  });

  it('a refusal by the mail server is a 502 that logs nothing and makes no link', async () => {
    const { customer } = await customerToNotify({ status: 'not_contacted' });
    refuse = true;
    try {
      const res = await call('POST', `/v1/customers/${customer.id}/notice/send`, rep, {});
      expect(res.statusCode).toBe(502);
      expect(res.json().code).toBe('APP_NOTICE_SEND_FAILED');
    } finally {
      refuse = false;
    }
    expect(await t.db.$count(contactEvents, eq(contactEvents.customerId, customer.id))).toBe(0);
    expect(await t.db.$count(selfCheckLinks, eq(selfCheckLinks.customerId, customer.id))).toBe(0);
    expect((await t.db.select().from(customers).where(eq(customers.id, customer.id)))[0]!.status).toBe('not_contacted');
  });

  it('without SMTP_URL, sending is a 409 that says what to set', async () => {
    const plain = await buildTestApp();
    try {
      const token = (await makeToken(plain.db, 'admin')).token;
      const p = await makeProgram(plain.db);
      const c = await makeCustomer(plain.db, p.id, (await makeSalesOwner(plain.db)).id);
      const res = await plain.app.inject({
        method: 'POST',
        url: `/v1/customers/${c.id}/notice/send`,
        headers: { authorization: `Bearer ${token}` },
        payload: {},
      });
      expect(res.statusCode).toBe(409);
      expect(res.json().detail).toContain('SMTP_URL');
    } finally {
      await plain.close();
    }
  });
});

describe('the notices of a program as a ZIP', () => {
  it('holds an .eml and a .txt per customer and an index; contact emails only in an admin’s', async () => {
    const one = await customerToNotify();
    const unzip = async (token: string) => {
      const res = await call('GET', `/v1/programs/${program.id}/notices.zip?q=${encodeURIComponent(one.customer.externalRef)}`, token);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/zip');
      return unzipSync(new Uint8Array(res.rawPayload));
    };
    const files = await unzip(admin);
    const base = one.customer.externalRef.replace(/[^\p{L}\p{N}_-]+/gu, '_');
    expect(Object.keys(files).sort()).toEqual([`${base}.eml`, `${base}.txt`, 'index.csv']);
    const index = strFromU8(files['index.csv']!);
    expect(index).toContain(one.email);
    expect(strFromU8(files[`${base}.txt`]!)).toContain(FIXED);
    const mail = await simpleParser(Buffer.from(files[`${base}.eml`]!));
    expect((mail.to as AddressObject).value[0]!.address).toBe(one.email);

    const managers = await unzip(manager);
    expect(strFromU8(managers['index.csv']!)).not.toContain(one.email);
    expect(Buffer.from(managers[`${base}.eml`]!).toString('latin1')).not.toContain(one.email);
    expect((await call('GET', `/v1/programs/${program.id}/notices.zip`, rep)).statusCode).toBe(403);
    expect((await call('GET', `/v1/programs/00000000-0000-4000-8000-000000000000/notices.zip`, admin)).statusCode).toBe(404);
  });
});
