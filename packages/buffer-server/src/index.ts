/** @sluice/buffer-server: the data plane (docs/protocol.md "Buffer server stream"). */
export { startBufferServer, type BufferServer } from './server.js';
export { DEFAULT_MEMORY_LIMIT, type BufferServerOptions } from './options.js';
export type { Footprint, MemoryProbe } from './footprint.js';
export type { BufferServerStats, StreamStats, SubscriberStats } from './stats.js';
export { connectPublisher, type Publisher, type PublisherOptions } from './publisher-client.js';
export { connectSubscriber, type Subscriber, type SubscriberOptions } from './subscriber-client.js';
export { connectControl, type Ack, type Control, type ControlOptions } from './control-client.js';
