import type { BufferServerStats, StreamStats } from '@sluice/common';
import type { StreamStore } from './stream-store.js';
import type { SubscriberLink } from './subscriber.js';

// The figures' shape is the stats ack's, defined once with its schema in common (docs/protocol.md "Control").
export type { BufferServerStats, StreamStats, SubscriberStats } from '@sluice/common';

/** What the figures are read from: the server's store, its connection registry, its pressure state and its handshake gate. */
export interface StatsSource {
  readonly store: StreamStore;
  readonly registry: {
    readonly size: number;
    readonly boundNames: number;
    readonly takeoversRefused: number;
    hasPublisher(stream: string): boolean;
    subscriberLinks(): Iterable<SubscriberLink>;
  };
  readonly memoryLimit: number;
  readonly footprint: { readonly growth: number; readonly collections: number } | null;
  readonly spoolLimit: number;
  readonly paused: boolean;
  readonly pauses: number;
  readonly gate: { readonly pendingHandshakes: number; readonly refusals: ReadonlyMap<string, number> };
}

export function collectStats(s: StatsSource): BufferServerStats {
  const streams: Record<string, StreamStats> = {};
  for (const [name, st] of s.store.streams) {
    streams[name] = {
      firstWindow: st.windows[0]?.w ?? null,
      lastWindow: st.last?.w ?? null,
      windows: st.windows.length,
      purgedThrough: st.purgedThrough,
      tuplesIn: st.tuplesIn,
      bytesIn: st.bytesIn,
      publisher: s.registry.hasPublisher(name),
      subscribers: {},
    };
  }
  for (const link of s.registry.subscriberLinks()) {
    const entry = streams[link.stream.name];
    if (!entry) continue;
    entry.subscribers[link.name] = { tuplesOut: link.tuplesOut, bytesOut: link.bytesOut, lagWindows: link.lagWindows, from: link.from };
  }
  return {
    memoryBytes: s.store.memoryBytes,
    peakMemoryBytes: s.store.peakMemory,
    memoryLimit: s.memoryLimit,
    storeBudgetBytes: s.store.budget,
    footprintBytes: s.footprint?.growth ?? 0,
    collections: s.footprint?.collections ?? 0,
    spoolBytes: s.store.spoolBytes,
    spoolLimit: s.spoolLimit,
    spilledBytes: s.store.spilledBytes,
    paused: s.paused,
    pauses: s.pauses,
    connections: s.registry.size,
    boundNames: s.registry.boundNames,
    takeoversRefused: s.registry.takeoversRefused,
    pendingHandshakes: s.gate.pendingHandshakes,
    authRefusals: Object.fromEntries(s.gate.refusals),
    streams,
  };
}
