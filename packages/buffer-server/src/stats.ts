import type { BufferServerImpl } from './server.js';

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
  /** Connections opened but not yet welcomed or refused. */
  pendingHandshakes: number;
  /** Refused handshakes since the server started, by error code (e.g. FRAME_TOO_BIG, TOO_MANY_HANDSHAKES, BAD_PROOF). */
  authRefusals: Record<string, number>;
  streams: Record<string, StreamStats>;
}

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
    pendingHandshakes: s.gate.pendingHandshakes,
    authRefusals: Object.fromEntries(s.gate.refusals),
    streams,
  };
}
