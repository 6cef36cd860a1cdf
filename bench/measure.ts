/** What the benchmark reads off processes and samples: /proc figures, percentiles, Redis memory, arrival times. */
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";

/** Clock ticks per second of utime/stime in /proc/PID/stat (USER_HZ, 100 on Linux everywhere). */
const CLOCK_TICKS = 100;

export interface ProcSample {
  /** Resident set size, and its peak so far (VmHWM), in MB. */
  rssMb: number;
  peakRssMb: number;
  /** User + system CPU time since the process started, in ms. */
  cpuMs: number;
  /** When it was taken (performance.now()). */
  at: number;
}

export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces), from field 3 on: utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024, cpuMs, at: performance.now() };
}

export type Pids = Record<string, number>;
export type Snapshot = Record<string, ProcSample>;

export function snapshot(pids: Pids): Snapshot {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, sampleProcess(pid)]));
}

/** CPU ms each process used between two snapshots. */
export function cpuBetween(before: Snapshot, after: Snapshot): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((name) => [name, after[name]!.cpuMs - (before[name]?.cpuMs ?? 0)]));
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  count: number;
}

/** Nearest-rank percentiles. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  return { p50: at(50), p95: at(95), p99: at(99), count: sorted.length };
}

export const median = (values: readonly number[]): number => percentiles(values).p50;

export async function redisMemory(url: string): Promise<{ usedBytes: number; keys: number }> {
  const redis = new Redis(url, { lazyConnect: true });
  try {
    await redis.connect();
    const info = await redis.info("memory");
    const usedBytes = Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
    return { usedBytes, keys: await redis.dbsize() };
  } finally {
    redis.disconnect();
  }
}

/** When each message (by body) arrived, and in which order; waits for a given one. */
export class Arrivals {
  readonly times = new Map<string, number>();
  readonly order: string[] = [];
  private readonly waiters = new Map<string, () => void>();

  note(body: string, at = performance.now()): void {
    if (this.times.has(body)) return;
    this.times.set(body, at);
    this.order.push(body);
    this.waiters.get(body)?.();
  }

  /** Resolves with the arrival time of `body`; rejects after timeoutMs. */
  waitFor(body: string, timeoutMs: number): Promise<number> {
    const seen = this.times.get(body);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(body);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for "${body}"`));
      }, timeoutMs);
      this.waiters.set(body, () => {
        clearTimeout(timer);
        this.waiters.delete(body);
        resolve(this.times.get(body)!);
      });
    });
  }

  /** True when the bodies with this prefix arrived exactly as `expected`, in that order. */
  inOrder(prefix: string, expected: readonly string[]): boolean {
    const got = this.order.filter((b) => b.startsWith(prefix));
    return got.length === expected.length && got.every((b, i) => b === expected[i]);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls `fn(i)` for i < count at `ratePerSecond`, on a fixed schedule (a late call does not delay the next ones). */
export async function paced(count: number, ratePerSecond: number, fn: (i: number) => void): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / ratePerSecond - performance.now();
    if (wait > 0) await sleep(wait);
    fn(i);
  }
}
