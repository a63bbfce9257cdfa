/**
 * At most `limit` holders at a time; the rest wait in arrival order. Container starts contend
 * in the kernel (mount-table copies, cgroup and namespace setup): run a few at a time and they
 * finish sooner than all at once.
 */
export class Gate {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}
