/**
 * A byte budget for responses in flight over all streams. Each stream has
 * at most one response in flight, but a thousand Envoys connecting at once
 * would each have their multi-megabyte first configuration in memory
 * together; with the budget, streams take turns (first come, first served)
 * and the server's memory stays bounded by the budget plus one response.
 */
export class SendBudget {
  readonly #limit: number;
  #inFlight = 0;
  readonly #queue: { bytes: number; start: () => void }[] = [];

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Runs `start` once `bytes` fit (at once when they do; a response larger
   * than the whole budget goes alone). Returns a cancel function for a
   * stream that closes while waiting.
   */
  request(bytes: number, start: () => void): () => void {
    if (this.#queue.length === 0 && this.#fits(bytes)) {
      this.#inFlight += bytes;
      start();
      return () => {};
    }
    const waiter = { bytes, start };
    this.#queue.push(waiter);
    return () => {
      const index = this.#queue.indexOf(waiter);
      if (index >= 0) this.#queue.splice(index, 1);
    };
  }

  release(bytes: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - bytes);
    while (this.#queue.length > 0 && this.#fits((this.#queue[0] as { bytes: number }).bytes)) {
      const next = this.#queue.shift() as { bytes: number; start: () => void };
      this.#inFlight += next.bytes;
      next.start();
    }
  }

  #fits(bytes: number): boolean {
    return this.#inFlight === 0 || this.#inFlight + bytes <= this.#limit;
  }
}
