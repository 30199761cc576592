/**
 * Credential providers (docs/stores.md): each obtains, renews and cancels the credentials an app
 * needs for one external system. The provider holds the privileged login it needs for that and
 * runs where the app was launched (STRAM under the local launcher or the gateway); only the
 * per-app credential it issues ever reaches a container, and only a container whose operators
 * declare that they use the system.
 */

/** One credential a provider issued: what a container needs to reach the system, and its dates. */
export interface StoreCredential {
  /** The external system, as operators name it (`.uses('postgres')`). */
  system: string;
  /** Distinguishes successive issues (reissues) of the app's credential. */
  generation: number;
  /** What a container connects with. Secret: never logged, never in status or REST. */
  secret: Record<string, string>;
  /** When it was issued (ms since the epoch). */
  issueDate: number;
  /** When the system stops accepting it unless renewed. */
  expiry: number;
  /** The latest a renewal can extend it to: a new credential is issued before then. */
  maxDate: number;
}

export interface CredentialProvider {
  readonly system: string;
  /** A new credential (at launch, and on every reissue); earlier ones stay valid until cancelled. */
  obtain(now: number): Promise<StoreCredential>;
  /** Extends `credential`'s validity; resolves with its new expiry (never past its max date). */
  renew(credential: StoreCredential, now: number): Promise<number>;
  /** Revokes one credential at once: it stops working, live sessions included. */
  revoke(credential: StoreCredential): Promise<void>;
  /** The app has ended: revokes everything it issued and removes what only the app used. */
  cancel(): Promise<void>;
}
