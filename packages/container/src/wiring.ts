import { instantiateOperator, portsOf, subscriberName, type AppDefinition, type DeployOperator, type Logger, type Token } from '@sluice/common';
import type { Publisher, PublisherOptions, Subscriber, SubscriberOptions } from '@sluice/buffer-server';
import type { CheckpointStore } from './checkpoint-store.js';
import type { EventCounter } from './counters.js';
import { OutputEmitter, type OutputSink } from './emitter.js';
import { OperatorRunner } from './operator-runner.js';
import { PublisherLink } from './publisher-link.js';
import { UpstreamLink } from './upstream.js';

/**
 * Turns `deploy` commands into running operators: instances, in-process edges for
 * container-locality streams, a publisher per remote output stream on this container's own
 * buffer server, and a subscription per upstream partition of every remote input.
 */

export interface DataPlaneClients {
  connectPublisher(o: PublisherOptions): Promise<Publisher>;
  connectSubscriber(o: SubscriberOptions): Promise<Subscriber>;
}

export interface WiringContext {
  app: AppDefinition;
  config: Record<string, unknown>;
  appDir: string;
  logger: Logger;
  checkpoints: CheckpointStore;
  /** The current credential of an external store (OperatorContext.store). */
  store?(system: string): Readonly<Record<string, string>> | undefined;
  checkpointWindows: number;
  windowMs: number;
  /** URL of the buffer server this container hosts. */
  ownServerUrl: string;
  /** A fresh publish token for the stream on this container's own buffer server (renewed at 75% of its life). */
  publishToken(stream: string): Token;
  subscribeToken(bufferServer: string): Token;
  clients: DataPlaneClients;
  onError(err: Error, runner: OperatorRunner): void;
  /** A publisher's connection was closed by the buffer server (e.g. 4401 expired): the stream cannot go on. */
  onPublisherLost?(stream: string, code: number, reason: string): void;
  /** Where publishers and subscriptions count what happens to them (counters.ts). */
  counter?: EventCounter;
  /** An input's subscription was closed 4409 by a connection this container did not make (upstream.ts). */
  onSubscriptionTakenOver?(operator: string, port: string): void;
}

export interface Deployed {
  runner: OperatorRunner;
  links: Map<string, UpstreamLink>;
  publishers: Map<string, PublisherLink>;
}

/** Key of an upstream link: `<port>|<upstream operator id>`; also the tracker source id. */
export function sourceId(port: string, upstream: string): string {
  return `${port}|${upstream}`;
}

/** The tracker sources of an operator: one per upstream partition of each input, in-process or not. */
export function sourcesOf(d: DeployOperator): { id: string; port: string }[] {
  return d.inputs.flatMap((i) => [...i.local, ...i.upstreams.map((u) => u.operator)].map((up) => ({ id: sourceId(i.port, up), port: i.port })));
}

/**
 * The partition key of a partitioned stream: that of its first partitioned sink's input port
 * (all partitioned sinks of one stream share the key; docs/protocol.md "Publisher (role `publish`)" has one p per tuple).
 */
export function partitionKeyFor(ctx: Pick<WiringContext, 'app' | 'config'>, stream: string): ((t: unknown) => number) | undefined {
  for (const sink of ctx.app.streams[stream]?.to ?? []) {
    const [operator, port] = sink.split('.') as [string, string];
    if ((ctx.app.operators[operator]?.partitions ?? 1) <= 1) continue;
    const probe = instantiateOperator(ctx.app, operator, ctx.config);
    return portsOf(probe).inputs.get(port)?.partitionKey as ((t: unknown) => number) | undefined;
  }
  return undefined;
}

/**
 * Deploys operators (in the order given: deployFor lists them topologically). `existing` are the
 * operators already running here, which may be in-process upstreams of the new ones.
 */
export async function deployOperators(ctx: WiringContext, deploys: DeployOperator[], existing: ReadonlyMap<string, Deployed>): Promise<Deployed[]> {
  const created: Deployed[] = deploys.map((d) => ({
    runner: new OperatorRunner({
      deploy: d,
      instance: instantiateOperator(ctx.app, d.operator, ctx.config),
      appDir: ctx.appDir,
      logger: ctx.logger,
      checkpoints: ctx.checkpoints,
      checkpointWindows: ctx.checkpointWindows,
      windowMs: ctx.windowMs,
      onError: ctx.onError,
    }),
    links: new Map(),
    publishers: new Map(),
  }));
  const all = [...existing.values(), ...created];
  try {
    for (const { runner } of created) {
      runner.setSources(sourcesOf(runner.deploy));
    }
    for (const entry of created) {
      const { runner } = entry;
      for (const out of runner.deploy.outputs) {
        const sinks: OutputSink[] = [];
        for (const other of all) {
          for (const input of other.runner.deploy.inputs) {
            if (input.stream === out.stream && input.local.includes(runner.id)) sinks.push(other.runner.localSink(sourceId(input.port, runner.id)));
          }
        }
        let key: ((t: unknown) => number) | undefined | false = false;
        if (sinks.length === 0) {
          // Not consumed in-process: the stream goes through this container's buffer server.
          const stream = out.stream;
          const publisher = await PublisherLink.open({
            url: ctx.ownServerUrl,
            stream,
            window: runner.deploy.restoreWindow + 1,
            token: () => ctx.publishToken(stream),
            connect: (o) => ctx.clients.connectPublisher(o),
            onLost: (code, reason) => (ctx.onPublisherLost ? ctx.onPublisherLost(stream, code, reason) : ctx.onError(new Error(`publisher of ${stream} closed (${code} ${reason})`), runner)),
            ...(ctx.counter ? { counter: ctx.counter } : {}),
            logger: ctx.logger.child({ operator: runner.id }),
          });
          entry.publishers.set(stream, publisher);
          sinks.push(publisher);
          if (out.partitioned) key = partitionKeyFor(ctx, out.stream);
        }
        runner.setOutput(out.port, new OutputEmitter(sinks, key));
      }
    }
    for (const { runner } of created) await runner.setup({ appDir: ctx.appDir, logger: ctx.logger, ...(ctx.store ? { store: ctx.store } : {}) });
    for (const entry of created) {
      for (const input of entry.runner.deploy.inputs) {
        for (const up of input.upstreams) {
          const source = sourceId(input.port, up.operator);
          const link = new UpstreamLink({
            runner: entry.runner,
            source,
            stream: input.stream,
            subscriber: subscriberName(entry.runner.id, input.port),
            target: { url: up.url, bufferServer: up.bufferServer, partitions: up.partitions },
            token: (bs) => ctx.subscribeToken(bs),
            connect: (o) => ctx.clients.connectSubscriber(o),
            ...(ctx.counter ? { counter: ctx.counter } : {}),
            onTakenOver: () => ctx.onSubscriptionTakenOver?.(entry.runner.id, input.port),
            logger: ctx.logger,
          });
          entry.links.set(source, link);
          link.start();
        }
      }
    }
    for (const { runner } of created) runner.startWindows();
    return created;
  } catch (err) {
    await undeploy(created);
    throw err;
  }
}

/** Stops operators, then closes their subscriptions and publishers. */
export async function undeploy(entries: Deployed[]): Promise<void> {
  const stops = entries.map((e) => e.runner.stop());
  for (const e of entries) {
    for (const link of e.links.values()) await link.close();
  }
  // Publishers close before the runners finish: a runner waiting on publisher.ready() then wakes.
  for (const e of entries) {
    for (const p of e.publishers.values()) await p.close();
  }
  await Promise.all(stops);
}
