import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU time (user + system) of every process on the machine, from /proc, by pid, with its command name. */
function snapshot(): Map<number, { comm: string; seconds: number }> {
  const out = new Map<number, { comm: string; seconds: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces; utime and stime are fields 14 and 15.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    out.set(Number(entry), { comm: stat.slice(stat.indexOf('(') + 1, close), seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND });
  }
  return out;
}

/**
 * CPU seconds each group of processes used while `fn` ran: `name(pid, comm)` names a process's group
 * (undefined: "other"). A process that exits before the end is not counted; the benchmarks' processes
 * (this one, its children, PostgreSQL's pooled backends, Redis) all outlive what they measure.
 */
export async function cpuByGroup<T>(name: (pid: number, comm: string) => string | undefined, fn: () => Promise<T>) {
  const before = snapshot();
  const value = await fn();
  const seconds: Record<string, number> = {};
  for (const [pid, { comm, seconds: s }] of snapshot()) {
    const used = s - (before.get(pid)?.comm === comm ? before.get(pid)!.seconds : 0);
    if (used <= 0) continue;
    const group = name(pid, comm) ?? 'other';
    seconds[group] = (seconds[group] ?? 0) + used;
  }
  return { value, seconds };
}

/**
 * How long a process's main thread was ready to run but not running while `fn` ran (its run-queue
 * wait, /proc/<pid>/task/<pid>/schedstat, sampled every 2 ms): the share of the time, and the longest
 * stretch in which it waited for most of every sample. Such a stretch delays every request the
 * thread holds, whatever the code does.
 */
export async function runQueueWait<T>(pid: number, fn: () => Promise<T>) {
  const waited = () => Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  const start = { at: performance.now(), ms: waited() };
  let previous = start;
  let stretch = 0;
  let longest = 0;
  const timer = setInterval(() => {
    const now = { at: performance.now(), ms: waited() };
    const elapsed = now.at - previous.at;
    stretch = now.ms - previous.ms > elapsed / 2 ? stretch + elapsed : 0;
    longest = Math.max(longest, stretch);
    previous = now;
  }, 2);
  try {
    const value = await fn();
    const end = { at: performance.now(), ms: waited() };
    return { value, runQueuePercent: Math.round((100 * (end.ms - start.ms)) / (end.at - start.at)), longestStallMs: Math.round(longest) };
  } finally {
    clearInterval(timer);
  }
}
