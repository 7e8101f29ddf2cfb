/**
 * Routes each event of a micro-batch to a rollout arm (a model version), sticky by entity key:
 * the key's bucket (`entity-bucket.ts`, 0–9,999) falls in one arm's range of basis points, laid
 * out in the arms' order — with 90/10, `stable` holds buckets 0–8,999 and `canary` 9,000–9,999.
 * One user sees one model for as long as the weights and the salt stay, on every consumer.
 *
 * Changing weights moves the fewest users when the arms whose weights change sit next to each
 * other in the list: ramping `canary` from 10 % to 20 % against `stable` moves exactly the 10 % of
 * users in buckets 8,000–8,999, from stable to canary, and no one else. An arm between two that
 * trade weight shifts along and moves users of its own; `movedShare` tells the exact share any
 * change moves. (No layout fixed by the weights alone can be minimal for every change among three
 * or more arms, so the order is the operator's to choose.)
 *
 * Pure and immutable: a new weight set or a rollback is a new router, swapped in in one
 * assignment, so a micro-batch is routed by one layout only.
 */
import { BUCKETS, entityBucket, saltSeed } from "./entity-bucket.js";
import type { RolloutConfig } from "./rollout-config.js";

/** The arms of one micro-batch that go to one model version. */
export interface RouteGroup {
  /** Index into the config's arms. */
  readonly arm: number;
  readonly name: string;
  readonly version: number | string;
  /** Rows of the micro-batch, ascending. */
  readonly rows: Int32Array;
}

export interface RoutePlan {
  /** The arm index of each row. */
  readonly arms: Uint8Array;
  /** One group per arm with rows, in arm order: one ModelInfer each. */
  readonly groups: readonly RouteGroup[];
  /** Rows the shadow also scores (empty without a shadow). */
  readonly shadowRows: Int32Array;
}

/** One weight set as ranges of buckets: range j is [ends[j-1], ends[j]) and belongs to owners[j]. */
interface Layout {
  readonly ends: Int32Array;
  readonly owners: Uint8Array;
}

function layoutOf(weightsBp: readonly number[], owner: (arm: number) => number): Layout {
  const ends: number[] = [];
  const owners: number[] = [];
  let end = 0;
  weightsBp.forEach((weight, arm) => {
    if (weight <= 0) return;
    end += weight;
    ends.push(end);
    owners.push(owner(arm));
  });
  return { ends: Int32Array.from(ends), owners: Uint8Array.from(owners) };
}

function ownerOf(layout: Layout, bucket: number): number {
  const ends = layout.ends;
  let j = 0;
  while (j < ends.length - 1 && bucket >= ends[j]!) j++;
  return layout.owners[j]!;
}

/** A top-level or dotted field of a decoded event as a segment value; absent or not a scalar: undefined. */
export function segmentOf(event: unknown, field: string): string | undefined {
  let value: unknown = event;
  for (const part of field.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

export class RolloutRouter {
  readonly config: RolloutConfig;
  /** Arms rolled back: their users go to the primary. */
  readonly rolledBack: readonly string[];
  readonly #seed: number;
  readonly #shadowSeed: number;
  readonly #layout: Layout;
  readonly #segments: ReadonlyMap<string, Layout>;

  constructor(config: RolloutConfig, rolledBack: readonly string[] = []) {
    if (config.arms.length > 255) {
      throw new RangeError(`rollout: expected at most 255 arms, got ${config.arms.length}`);
    }
    this.config = config;
    this.rolledBack = rolledBack;
    const back = new Set(
      rolledBack.map((armName) => config.arms.findIndex((a) => a.name === armName)),
    );
    for (const armName of rolledBack) {
      if (!config.arms.some((a) => a.name === armName)) {
        throw new RangeError(`rollout: cannot roll back "${armName}": no such arm`);
      }
    }
    // A rolled-back arm keeps its ranges, owned by the primary: only its users move.
    const owner = (arm: number): number => (back.has(arm) ? config.primary : arm);
    this.#seed = saltSeed(config.salt);
    // Its own salt: who the shadow sees is independent of who is on which arm.
    this.#shadowSeed = saltSeed(`${config.salt}/shadow`);
    this.#layout = layoutOf(config.weightsBp, owner);
    const segments = new Map<string, Layout>();
    for (const [value, weights] of config.segments?.weightsBp ?? []) {
      segments.set(value, layoutOf(weights, owner));
    }
    this.#segments = segments;
  }

  /** A router whose `arm` is rolled back: its users go to the primary, nobody else moves. */
  withRollback(arm: string): RolloutRouter {
    if (this.rolledBack.includes(arm)) return this;
    return new RolloutRouter(this.config, [...this.rolledBack, arm]);
  }

  /** The key's bucket, 0–9,999. */
  bucketOf(key: string): number {
    return entityBucket(key, this.#seed);
  }

  /** The arm index of an entity key, in a segment (a value of the segment field) or the default. */
  armFor(key: string, segment?: string): number {
    return ownerOf(this.#layoutFor(segment), entityBucket(key, this.#seed));
  }

  /** The arm index that owns a bucket (0–9,999), in a segment or the default. */
  armOfBucket(bucket: number, segment?: string): number {
    return ownerOf(this.#layoutFor(segment), bucket);
  }

  /** Whether the shadow also scores this key's events. */
  shadows(key: string): boolean {
    const shadow = this.config.shadow;
    return shadow !== undefined && entityBucket(key, this.#shadowSeed) < shadow.shareBp;
  }

  /**
   * Routes one micro-batch: `keys[i]` is row i's entity key, `segments[i]` its segment value
   * (when the rollout has segments). One hash per row (two with a shadow), nothing per row
   * allocated beyond the plan's arrays.
   */
  plan(keys: readonly string[], segments?: readonly (string | undefined)[]): RoutePlan {
    const n = keys.length;
    const arms = new Uint8Array(n);
    const counts = new Int32Array(this.config.arms.length);
    let shadowCount = 0;
    const shadowMask = this.config.shadow === undefined ? undefined : new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const key = keys[i]!;
      const arm = this.armFor(key, segments?.[i]);
      arms[i] = arm;
      counts[arm]!++;
      if (shadowMask !== undefined && this.shadows(key)) {
        shadowMask[i] = 1;
        shadowCount++;
      }
    }
    const groups: RouteGroup[] = [];
    const fill = new Int32Array(this.config.arms.length);
    const rowsOf = this.config.arms.map((_, arm) => new Int32Array(counts[arm]!));
    for (let i = 0; i < n; i++) {
      const arm = arms[i]!;
      rowsOf[arm]![fill[arm]!++] = i;
    }
    this.config.arms.forEach((armConfig, arm) => {
      if (counts[arm]! > 0) {
        groups.push({ arm, name: armConfig.name, version: armConfig.version, rows: rowsOf[arm]! });
      }
    });
    const shadowRows = new Int32Array(shadowCount);
    if (shadowMask !== undefined) {
      for (let i = 0, j = 0; i < n; i++) if (shadowMask[i] === 1) shadowRows[j++] = i;
    }
    return { arms, groups, shadowRows };
  }

  /** Effective basis points per arm (index as the config's arms) after rollbacks, in a segment or the default. */
  weights(segment?: string): number[] {
    const layout = this.#layoutFor(segment);
    const weights = new Array<number>(this.config.arms.length).fill(0);
    let start = 0;
    layout.ends.forEach((end, j) => {
      weights[layout.owners[j]!]! += end - start;
      start = end;
    });
    return weights;
  }

  /** The segment values that have weights of their own. */
  get segmentValues(): readonly string[] {
    return [...this.#segments.keys()];
  }

  #layoutFor(segment: string | undefined): Layout {
    return (segment === undefined ? undefined : this.#segments.get(segment)) ?? this.#layout;
  }
}

/**
 * The share of users (0–1) whose arm differs between two routers, in a segment or the default:
 * what a change of weights, order or rollbacks will move. Arms are matched by name. With the same
 * salt it is exact (bucket by bucket); with another salt assignments are independent and this is
 * the expected share, 1 − Σ wᵢ·w'ᵢ.
 */
export function movedShare(from: RolloutRouter, to: RolloutRouter, segment?: string): number {
  if (from.config.salt !== to.config.salt) {
    const fromWeights = from.weights(segment);
    const toWeights = to.weights(segment);
    let same = 0;
    from.config.arms.forEach((arm, i) => {
      const j = to.config.arms.findIndex((other) => other.name === arm.name);
      if (j >= 0) same += (fromWeights[i]! / BUCKETS) * (toWeights[j]! / BUCKETS);
    });
    return 1 - same;
  }
  let moved = 0;
  for (let bucket = 0; bucket < BUCKETS; bucket++) {
    const a = from.config.arms[from.armOfBucket(bucket, segment)]!.name;
    const b = to.config.arms[to.armOfBucket(bucket, segment)]!.name;
    if (a !== b) moved++;
  }
  return moved / BUCKETS;
}
