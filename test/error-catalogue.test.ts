import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { readSource, root, sourceFiles } from './helpers/source-files.ts';
import { errorCodesSection, renderErrorCodes } from '../src/error-codes-doc.ts';
import { AppError, catalogue, errors, features, isAppError } from '../src/errors.ts';
import { toProblem } from '../src/http/problems.ts';

const entries = Object.values(catalogue);

describe('the error catalogue', () => {
  it('is what the README lists between its error-codes markers', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(errorCodesSection(readme), 'README.md lists other error codes than src/errors.ts: run `npm run docs`').toBe(renderErrorCodes());
  });

  it('has every code once', () => {
    const codes = entries.map((e) => e.code);
    expect(codes.filter((code, i) => codes.indexOf(code) !== i)).toEqual([]);
  });

  it('keeps every key of every feature (a key repeated across features would be lost in the spread)', () => {
    expect(features.reduce((n, entries) => n + Object.keys(entries).length, 0)).toBe(entries.length);
  });

  it('sends every code with a client or server error status', () => {
    expect(entries.filter((e) => !(Number.isInteger(e.status) && e.status >= 400 && e.status <= 599))).toEqual([]);
  });

  it('fills the message placeholders in order and passes the extra object through', () => {
    const err = errors.checkTooSoon('example.jp', 42, { headers: { 'retry-after': '42' } });
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      code: catalogue.checkTooSoon.code,
      statusCode: 429,
      message: 'example.jp was queued for a check less than a minute ago; try again in 42 s',
      extra: { headers: { 'retry-after': '42' } },
    });
    expect(errors.programNotFound('p1').extra).toEqual({});
  });

  it('tells a catalogue error by its key', () => {
    expect(isAppError(errors.importFailed('i1', 'boom'), 'importFailed')).toBe(true);
    expect(isAppError(errors.importNotFound('i1'), 'importFailed')).toBe(false);
    expect(isAppError(new Error('boom'), 'importFailed')).toBe(false);
    expect(isAppError(errors.importNotFound('i1'))).toBe(true);
  });

  it('is the only place a code is written: no code string in src, jobs or db outside src/errors.ts', () => {
    const strays = ['src', 'jobs', 'db']
      .flatMap((dir) => sourceFiles(dir))
      .filter((file) => file !== join('src', 'errors.ts'))
      .flatMap((file) =>
        readSource(file)
          .split('\n')
          .flatMap((line, i) => (/['"`]APP_[A-Z_]+/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(strays, 'throw errors.<key>(…) from src/errors.ts instead, and test a code with isAppError(err, key)').toEqual([]);
  });

  describe('mapped to problem+json', () => {
    const request = { id: 'req-1', url: '/v1/things?x=1' } as FastifyRequest;
    const fastifyError = (code: string, statusCode: number) => Object.assign(new Error(`${code} happened`), { code, statusCode });

    it('sends a catalogue error with its status, type and extra members (never its headers)', () => {
      const problem = toProblem(errors.checkTooSoon('example.jp', 42, { headers: { 'retry-after': '42' }, hint: 'wait' }), request, 0);
      expect(problem).toEqual({
        type: 'urn:mdt:problem:check-too-soon',
        title: 'Too Many Requests',
        status: 429,
        detail: 'example.jp was queued for a check less than a minute ago; try again in 42 s',
        instance: '/v1/things',
        code: catalogue.checkTooSoon.code,
        requestId: 'req-1',
        hint: 'wait',
      });
    });

    it("sends a Fastify client error no finer code maps under the catalogue's catch-all, with the status Fastify chose", () => {
      const problem = toProblem(fastifyError('FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400), request, 0);
      expect(problem).toMatchObject({ status: 400, code: catalogue.badRequest.code, detail: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH happened' });
      expect(toProblem(fastifyError('FST_ERR_SOMETHING_NEW', 414), request, 0)).toMatchObject({ status: 414, code: catalogue.badRequest.code });
    });

    it('sends anything else as the internal error, naming only the request id', () => {
      expect(toProblem(new Error('secret detail'), request, 0)).toMatchObject({
        status: 500,
        code: catalogue.internal.code,
        detail: 'An internal error occurred; quote request id req-1 when reporting it',
      });
    });
  });
});
