import { subscriptionsOf, type Credentials, type PhysicalPlan, type Token } from '@sluice/common';
import { credentialsFor, type StramAuthority } from './authority.js';

/** What every credentials file holds besides the tokens and the secret. */
export interface CredentialsTemplate {
  app: string;
  stramUrl: string;
  appModule: string;
  appDir: string;
  settings: Credentials['settings'];
  config: Record<string, unknown>;
}

/**
 * Fresh credentials for a container (docs/architecture.md "Security model"): a new STRAM token,
 * its buffer server's current secret, and one subscribe token per upstream buffer server naming
 * exactly the streams it reads there.
 */
export class CredentialsIssuer {
  constructor(
    private readonly plan: PhysicalPlan,
    private readonly authority: StramAuthority,
    private readonly template: CredentialsTemplate,
    private readonly extras: {
      /** The store credentials container `id` is to hold (only the stores its operators use). */
      stores?: (id: string) => Credentials['stores'];
      /** Under TLS, the app CA's roots as they are now (PEM), for the container to check STRAM's certificate by. */
      caRoots?: () => string[];
    } = {},
  ) {}

  async issue(id: string): Promise<{ credentials: Credentials; token: Token }> {
    const bufferServer = this.plan.containers.find((c) => c.id === id)!.bufferServer;
    const grant = await this.authority.grant(id, bufferServer, subscriptionsOf(this.plan, id));
    const { config, ...common } = this.template;
    const credentials = credentialsFor(grant, common);
    if (Object.keys(config).length > 0) credentials.config = config;
    const stores = this.extras.stores?.(id);
    if (stores && Object.keys(stores).length > 0) credentials.stores = stores;
    const caRoots = this.extras.caRoots?.();
    if (caRoots) credentials.caRoots = caRoots;
    return { credentials, token: grant.stramToken };
  }

  /** A subscribe token for container `id` at upstream buffer server `bs`, minted from its current secret. */
  subscribeToken(id: string, bs: string): string {
    return this.authority.subscribeToken(id, bs, subscriptionsOf(this.plan, id).get(bs) ?? []);
  }
}
