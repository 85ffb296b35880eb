/**
 * `npm run bench [-- <name>…]`: runs benchmarks by name (all when none is named). Benchmarks measure
 * against their limits in the same run; they are never part of `npm test`.
 */
const benchmarks: Record<string, () => Promise<void>> = {};

async function main(names: string[]) {
  const known = Object.keys(benchmarks);
  if (known.length === 0) {
    console.log('No benchmarks are registered yet (the DNS, reports and API benchmarks come with their features).');
    return;
  }
  const unknown = names.filter((n) => !benchmarks[n]);
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${known.join(', ')}`);
  for (const name of names.length > 0 ? names : known) await benchmarks[name]!();
}

main(process.argv.slice(2).filter((a) => !a.startsWith('-'))).catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
