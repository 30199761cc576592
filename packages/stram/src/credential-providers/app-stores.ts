import { SluiceError, storesOf, type Credentials, type PhysicalPlan } from '@sluice/common';
import type { AgentTable } from '../agent-table.js';
import type { StramMetrics } from '../metrics.js';
import type { Resolved } from '../stram-options.js';
import { PostgresProvider, adminUrl } from './postgres-provider.js';
import type { CredentialProvider } from './provider.js';
import { StoreCredentials } from './store-credentials.js';

/**
 * Which containers get which store credentials (docs/stores.md): a container holds a store's
 * credential only when one of its operators `uses` that store, or when checkpoints go to it. The
 * providers run here, in STRAM, with the privileged login; containers get the per-app credential.
 */
export class AppStores {
  private agents: AgentTable | undefined;
  /** Set once, by open(), when the app uses any store. */
  credentials: StoreCredentials | undefined;

  private constructor(
    private readonly plan: PhysicalPlan,
    private readonly checkpointStore: 'file' | 'postgres',
  ) {}

  /** Builds the providers the plan needs and obtains their first credentials (before any container's credentials are written). */
  static async open(o: Resolved, appId: string, plan: PhysicalPlan, metrics: StramMetrics): Promise<AppStores> {
    const checkpointStore = o.checkpointStore ?? 'file';
    const needed = new Set(plan.containers.flatMap((c) => storesOf(plan, c.id)));
    if (checkpointStore === 'postgres') needed.add('postgres');
    const providers: CredentialProvider[] = [];
    if (needed.has('postgres')) {
      if (!o.postgres) {
        const why = checkpointStore === 'postgres' ? 'checkpoints go to PostgreSQL' : `operator(s) ${plan.logical.operators.filter((l) => l.uses?.includes('postgres')).map((l) => l.name).join(', ')} use PostgreSQL`;
        throw new SluiceError('BAD_CONFIG', `${why}: give the server and privileged role (--postgres postgres://role@host:port/db) and --postgres-password-file`);
      }
      providers.push(new PostgresProvider({ adminUrl: adminUrl(o.postgres.url, o.postgres.passwordFile), app: appId, lifetimeMs: o.storeLifetimeMs, maxLifetimeMs: o.storeMaxLifetimeMs }));
    }
    const stores = new AppStores(plan, checkpointStore);
    if (providers.length === 0) return stores;
    const credentials = (stores.credentials = new StoreCredentials({
      providers,
      clock: o.clock,
      logger: o.logger,
      metrics,
      ...(o.renewalPolicy ? { policy: o.renewalPolicy } : {}),
      deliver: (system, secret) => stores.deliver(system, secret),
    }));
    await credentials.obtainAll();
    metrics.watchStores(() => credentials.statusOf());
    return stores;
  }

  /** The stores container `id` uses. */
  usedBy(id: string): string[] {
    const uses = new Set(storesOf(this.plan, id));
    if (this.checkpointStore === 'postgres') uses.add('postgres');
    return [...uses].sort();
  }

  /** What container `id`'s credentials carry under `stores`. */
  forContainer(id: string): Credentials['stores'] {
    const out: Record<string, Record<string, string>> = {};
    for (const system of this.usedBy(id)) {
      const secret = this.credentials?.secretOf(system);
      if (secret) out[system] = secret;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  /** Where reissued credentials go from now on: each to the agents of the containers that use the store. */
  attach(agents: AgentTable): void {
    this.agents = agents;
  }

  private deliver(system: string, secret: Record<string, string>): void {
    for (const a of this.agents ?? []) {
      if (this.usedBy(a.id).includes(system)) a.change({ stores: { ...a.credentials.stores, [system]: secret } });
    }
  }
}
