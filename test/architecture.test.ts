import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSource, sourceFiles } from './helpers/source-files.ts';

/*
 * The layers of README.md's architecture section, kept by reading every import of src/, jobs/ and db/:
 *
 *   entry points (server, worker, CLI, generators) → job runtime (jobs/) and HTTP (app, plugins, routes)
 *     → features (src/<feature>/) → foundations (DNS engine, database, job contract, access, errors, lib)
 *
 * An import may go down or sideways, never up; folders import each other without cycles; the DNS engine
 * depends on nothing but itself and Node.
 */

interface Import {
  from: string;
  /** A repository path for a relative import, the package name otherwise. */
  to: string;
  typeOnly: boolean;
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)';/gm;

export function importsOf(file: string, source = readSource(file)): Import[] {
  return [...source.matchAll(IMPORT)].map((m) => {
    const spec = m[3]!;
    return { from: file, to: spec.startsWith('.') ? normalize(join(dirname(file), spec)) : spec, typeOnly: Boolean(m[2]) };
  });
}

type Layer = 'entry' | 'jobs' | 'http' | 'feature' | 'foundation';
const rank: Record<Layer, number> = { entry: 4, jobs: 3, http: 3, feature: 2, foundation: 1 };

const entryPoints = ['src/server.ts', 'src/cli.ts', 'src/openapi.ts', 'src/error-codes-doc.ts', 'jobs/worker.ts'];
const foundations = [/^db\//, /^src\/dns\//, /^src\/job-contract\//, /^src\/access\//, /^src\/lib\//, /^src\/(errors|config|bootstrap|logging)\.ts$/];
/** Route schemas (zod only) are the API's types: routes and services both use them. */
const httpSchemas = [/^src\/http\/(common-schemas|pagination)\.ts$/];
const http = [/^src\/app\.ts$/, /^src\/(plugins|http|dashboard|ops)\//, /-routes\.ts$/];

export function layerOf(file: string): Layer | undefined {
  if (!/^(src|jobs|db)\//.test(file) && !/^package\.json$/.test(file)) return undefined;
  if (entryPoints.includes(file)) return 'entry';
  if (file.startsWith('jobs/')) return 'jobs';
  if (foundations.some((p) => p.test(file)) || httpSchemas.some((p) => p.test(file))) return 'foundation';
  if (http.some((p) => p.test(file))) return 'http';
  if (file.startsWith('src/')) return 'feature';
  return undefined;
}

/** What an import breaks, if anything (a sentence for the failure message). */
export function crossing({ from, to, typeOnly }: Import): string | undefined {
  const src = layerOf(from);
  if (!src) return undefined;
  if (from.startsWith('src/dns/')) {
    if (!to.startsWith('.') && !to.includes('/') && !['dns-packet'].includes(to) && !to.startsWith('node:')) return `the DNS engine imports ${to}`;
    if (to.includes('/') && !to.startsWith('src/dns/') && !to.startsWith('node:')) return `the DNS engine imports ${to}`;
    return undefined;
  }
  // Only the job runtimes know which processor runs a job.
  if (to === 'jobs/registry.ts' && !['jobs/bullmq.ts', 'jobs/inline.ts'].includes(from)) return `${from} imports the job registry`;
  // Features see the database through drizzle; Fastify only as a logger type.
  if (src === 'feature' && to === 'fastify' && !typeOnly) return `${from} imports fastify (features do not depend on HTTP)`;
  if (src === 'foundation' && ['fastify', 'bullmq'].includes(to) && !typeOnly) return `${from} (a foundation) imports ${to}`;
  if (src === 'foundation' && from.startsWith('db/') && to.startsWith('src/')) return `${from} (the database) imports ${to}`;
  const dst = layerOf(to);
  if (!dst) return undefined;
  if (rank[dst] > rank[src]) return `${from} (${src}) imports ${to} (${dst}): layers import downwards`;
  if (src === 'http' && dst === 'jobs') return `${from} (HTTP) imports ${to} (the job runtime): the API knows only the job contract`;
  if (src === 'jobs' && dst === 'http') return `${from} (the job runtime) imports ${to} (HTTP)`;
  return undefined;
}

/** src/customers/customer-service.ts → src/customers; src/app.ts → src/app.ts; jobs/processors/x.ts → jobs/processors. */
export const folderOf = (file: string) => {
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : file;
};

/** Every cycle of folders, each as its path (a → b → … → a); empty when the graph is a DAG. */
export function folderCycles(imports: Import[]): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    if (!layerOf(to) || folderOf(from) === folderOf(to)) continue;
    const set = edges.get(folderOf(from)) ?? new Set<string>();
    set.add(folderOf(to));
    edges.set(folderOf(from), set);
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of [...(edges.get(node) ?? [])].sort()) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

const all = sourceFiles('src', 'jobs', 'db').flatMap((file) => importsOf(file));

describe('the layers', () => {
  it('every import goes down a layer or stays in its own', () => {
    expect(all.map(crossing).filter(Boolean)).toEqual([]);
  });

  it('no folders import each other in a cycle', () => {
    expect(folderCycles(all).map((c) => c.join(' → '))).toEqual([]);
  });

  it('the DNS engine depends on nothing but itself, Node and its packet codec', () => {
    const engine = all.filter((i) => i.from.startsWith('src/dns/'));
    expect(engine.length).toBeGreaterThan(20);
    expect(engine.every((i) => i.to.startsWith('src/dns/') || i.to.startsWith('node:') || i.to === 'dns-packet')).toBe(true);
  });

  it('the API knows only the job contract: nothing in src/ imports jobs/ but the entry points', () => {
    expect(all.filter((i) => i.to.startsWith('jobs/') && i.from.startsWith('src/') && layerOf(i.from) !== 'entry')).toEqual([]);
  });
});

describe('the layer rules themselves', () => {
  // Each rule, shown failing on a crossing import, so a rule that matches nothing cannot pass unseen.
  const crossings: [string, string, string][] = [
    ['src/dns/evaluate-domain.ts', "import { sql } from 'drizzle-orm';", 'the DNS engine imports drizzle-orm'],
    ['src/dns/spf/analyze.ts', "import { errors } from '../../errors.ts';", 'the DNS engine imports src/errors.ts'],
    ['src/customers/customer-service.ts', "import { buildApp } from '../app.ts';", 'layers import downwards'],
    ['src/tasks/task-service.ts', "import { InlineJobRuntime } from '../../jobs/inline.ts';", 'layers import downwards'],
    ['src/customers/customer-routes.ts', "import { buildJobSystem } from '../../jobs/system.ts';", 'the API knows only the job contract'],
    ['src/lib/cursor.ts', "import { listTasks } from '../tasks/task-service.ts';", 'layers import downwards'],
    ['db/client.ts', "import { loadConfig } from '../src/config.ts';", 'the database'],
    ['jobs/system.ts', "import { findJob } from './registry.ts';", 'imports the job registry'],
    ['src/probes/probe-service.ts', "import Fastify from 'fastify';", 'features do not depend on HTTP'],
  ];
  for (const [file, line, why] of crossings) {
    it(`refuses ${line} in ${file}`, () => {
      const found = importsOf(file, line).map(crossing);
      expect(found).toHaveLength(1);
      expect(found[0]).toContain(why);
    });
  }

  it('allows the same imports where they belong', () => {
    expect(importsOf('src/probes/probe-service.ts', "import type { FastifyBaseLogger } from 'fastify';").map(crossing)).toEqual([undefined]);
    expect(importsOf('jobs/bullmq.ts', "import { findJob } from './registry.ts';").map(crossing)).toEqual([undefined]);
    expect(importsOf('src/server.ts', "import { buildJobSystem } from '../jobs/system.ts';").map(crossing)).toEqual([undefined]);
  });

  it('finds a folder cycle', () => {
    const cycle = [...importsOf('src/tasks/task-service.ts', "import { x } from '../probes/probe-service.ts';"), ...all];
    expect(folderCycles(cycle).map((c) => c.join(' → '))).toContainEqual(expect.stringContaining('src/tasks'));
  });
});
