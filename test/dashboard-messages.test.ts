import { describe, expect, it } from 'vitest';
import { customerStatuses, taskKinds, verdicts } from '../db/schema/enums.ts';
import {
  formatTime,
  impactText,
  messages,
  say,
  statusName,
  taskKindName,
  taskTitle,
  verdictName,
  vocabulary,
  impactTexts,
} from '../src/dashboard/dashboard-messages.ts';
import { readSource } from './helpers/source-files.ts';

describe('the pages’ message catalogue', () => {
  it('has every key in both languages, none empty, with the same placeholders', () => {
    const en = Object.keys(messages.en).sort();
    expect(Object.keys(messages.ja).sort()).toEqual(en);
    for (const key of en) {
      const e = messages.en[key as keyof typeof messages.en];
      const j = messages.ja[key as keyof typeof messages.ja];
      expect(e.trim(), key).not.toBe('');
      expect(j.trim(), key).not.toBe('');
      const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(placeholders(j), key).toEqual(placeholders(e));
    }
    for (const group of Object.keys(vocabulary.en) as (keyof typeof vocabulary.en)[]) {
      expect(Object.keys(vocabulary.ja[group]).sort(), group).toEqual(Object.keys(vocabulary.en[group]).sort());
    }
    expect(Object.keys(impactTexts.ja).sort()).toEqual(Object.keys(impactTexts.en).sort());
  });

  it('names every status, verdict and task kind in Japanese, never by its code', () => {
    for (const s of customerStatuses) {
      expect(statusName('ja', s)).not.toMatch(/[a-z_]{4,}/);
      expect(statusName('en', s)).not.toContain('_');
    }
    for (const v of [...verdicts, 'unchecked']) expect(verdictName('ja', v)).not.toMatch(/^[a-z_]+$/);
    for (const k of taskKinds) expect(taskKindName('ja', k)).not.toMatch(/^[a-z_]+$/);
  });

  it('has Japanese words for every impact code the DNS engine emits', () => {
    const source = readSource('src/dns/evaluate-domain.ts');
    const codes = new Set([...source.matchAll(/code: '([a-z_]+)'/g)].map((m) => m[1]!));
    expect(codes.size).toBeGreaterThan(5);
    for (const code of codes) {
      expect(impactTexts.ja[code], code).toBeTruthy();
      expect(impactText('ja', { code, message: 'English' })).not.toBe('English');
    }
  });

  it('fills placeholders, leaves unknown ones, and words task titles in Japanese', () => {
    expect(say('en', 'countTasks', { n: 3 })).toBe('3 open tasks');
    expect(say('ja', 'countTasks')).toBe('未完了タスク {n} 件');
    const reminder = { kind: 'reminder', milestone: 'T-30', title: 'T-30: 29 days to the shutdown of Legacy — ACME', details: { daysLeft: 29 } };
    expect(taskTitle('en', reminder, 'ACME')).toBe(reminder.title);
    expect(taskTitle('ja', reminder, '株式会社サンプル')).toBe('T-30: サービス終了まであと 29 日 — 株式会社サンプル');
  });

  it('shows times in the program’s time zone, with the zone', () => {
    const at = '2022-09-01T03:00:00Z';
    expect(formatTime('ja', at, 'Asia/Tokyo')).toBe('2022年9月1日 12:00 JST');
    expect(formatTime('en', at, 'Asia/Tokyo')).toBe('1 Sept 2022, 12:00 GMT+9');
    expect(formatTime('en', at, 'Europe/London')).toBe('1 Sept 2022, 04:00 BST');
    expect(formatTime('en', null, 'Asia/Tokyo')).toBe('—');
  });
});

describe('the history’s words', () => {
  it('names every audited action of a customer, its domains or its contacts in both languages', () => {
    const actions = new Set<string>();
    for (const file of [
      'src/customers/customer-service.ts',
      'src/domains/domain-service.ts',
      'src/imports/import-service.ts',
      'src/probes/check-repository.ts',
      'src/customer-status/customer-writer.ts',
      'src/contacts/contact-service.ts',
    ]) {
      for (const m of readSource(file).matchAll(/'((?:customer|domain|contact)\.[a-z_]+)'/g)) actions.add(m[1]!);
    }
    expect(actions.size).toBeGreaterThan(5);
    for (const action of actions) {
      expect(vocabulary.en.action, action).toHaveProperty([action]);
      expect(vocabulary.ja.action, action).toHaveProperty([action]);
    }
  });
});
