import type { StreamStore } from './stream-store.js';
import type { SubscriberLink } from './subscriber.js';

export interface SubscriberStats {
  tuplesOut: number;
  bytesOut: number;
  /** Retained windows this subscriber has not fully received yet. */
  lagWindows: number;
  from: number;
}

export interface StreamStats {
  /** Oldest and newest retained window; null when none is retained. */
  firstWindow: number | null;
  lastWindow: number | null;
  windows: number;
  purgedThrough: number;
  tuplesIn: number;
  bytesIn: number;
  publisher: boolean;
  subscribers: Record<string, SubscriberStats>;
}

export interface BufferServerStats {
  /** Bytes of window data in memory (resident windows + frames read back from the spool). */
  memoryBytes: number;
  peakMemoryBytes: number;
  memoryLimit: number;
  /** Bytes in spool files right now. */
  spoolBytes: number;
  spoolLimit: number;
  /** Bytes ever moved to the spool. */
  spilledBytes: number;
  /** True while publishers are not read (memory and spool full). */
  paused: boolean;
  /** How many times publishers were paused. */
  pauses: number;
  connections: number;
  /** Subscriber names bound to a container or owner (docs/protocol.md "Subscriber names"). */
  boundNames: number;
  /** Subscribe attempts refused (4403 SUBSCRIBER_NAME_TAKEN) because the name belonged to another holder. */
  takeoversRefused: number;
  streams: Record<string, StreamStats>;
}

/** What the figures are read from: the server's store, its connection registry and its pressure state. */
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
  readonly spoolLimit: number;
  readonly paused: boolean;
  readonly pauses: number;
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
    spoolBytes: s.store.spoolBytes,
    spoolLimit: s.spoolLimit,
    spilledBytes: s.store.spilledBytes,
    paused: s.paused,
    pauses: s.pauses,
    connections: s.registry.size,
    boundNames: s.registry.boundNames,
    takeoversRefused: s.registry.takeoversRefused,
    streams,
  };
}
