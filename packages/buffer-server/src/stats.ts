import type { BufferServerStats, StreamStats } from '@sluice/common';
import type { BufferServerImpl } from './server.js';

// The figures' shape is the stats ack's, defined once with its schema in common (docs/protocol.md "Control").
export type { BufferServerStats, StreamStats, SubscriberStats } from '@sluice/common';

export function collectStats(s: BufferServerImpl): BufferServerStats {
  const streams: Record<string, StreamStats> = {};
  for (const [name, st] of s.store.streams) {
    streams[name] = {
      firstWindow: st.windows[0]?.w ?? null,
      lastWindow: st.last?.w ?? null,
      windows: st.windows.length,
      purgedThrough: st.purgedThrough,
      tuplesIn: st.tuplesIn,
      bytesIn: st.bytesIn,
      publisher: s.publishers.has(name),
      subscribers: {},
    };
  }
  for (const c of s.connections) {
    const link = c.subscriber;
    if (!link) continue;
    const entry = streams[link.stream.name];
    if (!entry) continue;
    entry.subscribers[link.name] = { tuplesOut: link.tuplesOut, bytesOut: link.bytesOut, lagWindows: link.lagWindows, from: link.from };
  }
  return {
    memoryBytes: s.store.memoryBytes,
    peakMemoryBytes: s.store.peakMemory,
    memoryLimit: s.o.memoryLimit,
    spoolBytes: s.store.spoolBytes,
    spoolLimit: s.o.spoolLimit,
    spilledBytes: s.store.spilledBytes,
    paused: s.paused,
    pauses: s.pauses,
    connections: s.connections.size,
    streams,
  };
}
