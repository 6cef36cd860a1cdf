/**
 * Passes on the latest value per key at most once per interval: a burst of changes (one user's
 * presence flapping) becomes its first and its last. One timer serves every key, however many.
 */
export class LatestWinsThrottle<T> {
  /** When each key last went out, oldest first; only keys sent within the interval matter. */
  private readonly lastSent = new Map<string, number>();
  private readonly pending = new Map<string, T>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (key: string, value: T) => Promise<void>,
    private readonly onError: (key: string, err: unknown) => void,
  ) {}

  offer(key: string, value: T): void {
    const last = this.lastSent.get(key);
    if (last === undefined || Date.now() - last >= this.intervalMs) {
      this.pending.delete(key);
      this.fire(key, value);
      return;
    }
    this.pending.set(key, value);
    this.timer ??= setTimeout(() => this.flush(), Math.min(Math.max(this.intervalMs, 50), 1000)).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private flush(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [key, value] of this.pending) {
      if (now - (this.lastSent.get(key) ?? 0) < this.intervalMs) continue;
      this.pending.delete(key);
      this.fire(key, value);
    }
    if (this.pending.size > 0) this.timer = setTimeout(() => this.flush(), Math.min(Math.max(this.intervalMs, 50), 1000)).unref();
  }

  private fire(key: string, value: T): void {
    const now = Date.now();
    this.lastSent.delete(key);
    this.lastSent.set(key, now);
    // Oldest first: stop at the first key still inside its interval.
    for (const [old, at] of this.lastSent) {
      if (now - at < this.intervalMs) break;
      this.lastSent.delete(old);
    }
    this.send(key, value).catch((err: unknown) => this.onError(key, err));
  }
}
