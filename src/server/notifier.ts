// Wakes long-polling /sync requests of the users a committed write concerns.

export class Notifier {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly wakes = new Map<string, number>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends every wait now and every later one at once, so long polls finish before shutdown. */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const done of [...set]) done();
  }

  /** How often `userId` was woken so far: read before computing, compare before waiting. */
  wakeCount(userId: string): number {
    return this.wakes.get(userId) ?? 0;
  }

  /** Resolves when `userId` is woken, after `timeoutMs`, or when `signal` aborts; whichever is first. */
  wait(userId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(userId);
      if (set === undefined) {
        set = new Set();
        this.waiters.set(userId, set);
      }
      const waiters = set;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiters.get(userId) === waiters) this.waiters.delete(userId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done);
      waiters.add(done);
    });
  }

  /** Call after the write that concerns these users has committed. */
  wake(userIds: Iterable<string>): void {
    for (const userId of userIds) {
      this.wakes.set(userId, this.wakeCount(userId) + 1);
      const set = this.waiters.get(userId);
      if (set) for (const done of [...set]) done();
    }
  }
}
