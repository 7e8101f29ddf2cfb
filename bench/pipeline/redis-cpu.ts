/**
 * CPU time of the Redis server so far (INFO cpu: its main thread and the rest), for the share of a
 * window Redis spent. The server is shared: the figure includes other clients' work, if any.
 */
import { Redis } from "ioredis";

export class RedisCpu {
  readonly #redis: Redis;

  constructor(url: string) {
    this.#redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.#redis.on("error", () => {});
  }

  connect(): Promise<void> {
    return this.#redis.connect();
  }

  /** Milliseconds of CPU the server has used; NaN when it cannot be read. */
  async usedMs(): Promise<number> {
    try {
      const info = await this.#redis.info("cpu");
      const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1]);
      return (field("used_cpu_sys") + field("used_cpu_user")) * 1000;
    } catch {
      return NaN;
    }
  }

  close(): void {
    this.#redis.disconnect();
  }
}
