import type { PartitionFilter } from '../protocol.js';

/**
 * Stream partitioning (docs/protocol.md "Subscriber", partitions). The publisher tags each
 * tuple with p = partitionKey(tuple) & 0x7fffffff; a downstream with P partitions subscribes with
 * mask = (next power of two ≥ P) − 1 and keys = every k ≤ mask with k % P === partition, so each
 * key value goes to exactly one partition.
 */

export function partitionFilter(partition: number, partitions: number): PartitionFilter {
  let size = 1;
  while (size < partitions) size *= 2;
  const keys: number[] = [];
  for (let k = partition; k < size; k += partitions) keys.push(k);
  return { mask: size - 1, keys };
}

/** FNV-1a over UTF-16 code units: fast, stable across processes and versions. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The default partition key of a tuple: a hash of its JSON (strings hash directly). */
export function defaultPartitionKey(tuple: unknown): number {
  return hashString(typeof tuple === 'string' ? tuple : (JSON.stringify(tuple) ?? 'undefined'));
}

/** The wire partition value p (0 ≤ p < 2^31) of a tuple. */
export function partitionValue(tuple: unknown, key?: (t: unknown) => number): number {
  return ((key ? key(tuple) : defaultPartitionKey(tuple)) | 0) & 0x7fffffff;
}

/** Whether a tuple with partition value p goes to the subscriber with this filter. */
export function matchesPartition(p: number, filter: PartitionFilter): boolean {
  return filter.keys.includes(p & filter.mask);
}
