import { SluiceError, sealCredentials, writeCredentials, type Command, type Credentials, type FailureReport, type HeartbeatMessage } from '@sluice/common';
import type { ContainerRecord } from './container-table.js';

/**
 * STRAM's one owner of everything about one container (docs/architecture.md "Processes"): its
 * record (what it reported, what it was told, how its process is doing), the credentials it holds
 * or is about to hold, and an outbox of commands for its next heartbeat-ack.
 *
 * The credentials live here, in memory. The container's credentials file is their write-through
 * copy with this object as its only writer (docs/architecture.md "State on disk"): the file is how
 * a new process gets them, and how a recovered STRAM learns them — nothing else reads it back.
 *
 * Every change the container must hear about gets a revision number, written into the file with
 * it and sealed into the push that carries it. The container reports in each heartbeat the
 * revision it has applied (docs/protocol.md "Umbilical commands and counters"); a change is held
 * once a heartbeat reports its revision or a later one — not merely once a heartbeat follows the
 * ack, since the container applies commands in order and a push may wait behind a slow deploy.
 * A heartbeat on another connection than the one that carried a push not yet applied means the
 * ack may have been lost with its connection: the change goes out again.
 */

/** The connection a heartbeat came on: its session seals credentials. */
export interface AckChannel {
  readonly session: { readonly credentialsKey: Uint8Array };
}

/** What a heartbeat changed in the agent. */
export interface Heard {
  /** The container reported a new buffer-server URL. */
  bufferServerChanged: boolean;
  /** It was adopted after a STRAM restart and this is the first heartbeat since. */
  adopted: boolean;
  /** Operator failures this heartbeat reported for the first time. */
  failures: readonly FailureReport[];
}

const ERRORS_KEPT = 20;
const NO_FAILURES: readonly FailureReport[] = Object.freeze([]);

export class ContainerAgent {
  private current: Credentials;
  private revision: number;
  /** The latest revision the container is known to hold. */
  private heldRevision = 0;
  /** The latest revision that left STRAM (in an ack or, for a new process, in its file). */
  private sentRevision = 0;
  /** Changed fields not sent yet, merged: what goes into the next sealed push. */
  private unsent: Partial<Credentials> | undefined;
  /** Pushes sent and not yet reported applied, oldest first. */
  private inFlight: { revision: number; fields: Partial<Credentials>; channel: AckChannel }[] = [];
  private outbox: Command[] = [];
  /** Errors the current process has reported (it repeats them in every heartbeat). */
  private seenErrors = new Set<string>();
  /**
   * The current process has not heartbeated yet: it reads its file when it starts, and a slow
   * start may read it after a change, so every revision written meanwhile may be what it holds.
   */
  private starting = false;

  private constructor(
    readonly record: ContainerRecord,
    private readonly path: string,
    credentials: Credentials,
  ) {
    this.current = credentials;
    // Revisions go on from the file's, so a recovered STRAM's pushes come after its predecessor's.
    this.revision = this.sentRevision = credentials.revision ?? 0;
  }

  /** A container about to be launched: its credentials are written for the new process to read. */
  static launching(record: ContainerRecord, path: string, credentials: Credentials): ContainerAgent {
    const agent = new ContainerAgent(record, path, credentials);
    agent.restart(credentials);
    return agent;
  }

  /** A running container a recovered STRAM takes over, holding `credentials` (read from its file by the recovery builder). */
  static adopted(record: ContainerRecord, path: string, credentials: Credentials): ContainerAgent {
    return new ContainerAgent(record, path, credentials);
  }

  get id(): string {
    return this.record.id;
  }

  get credentials(): Readonly<Credentials> {
    return this.current;
  }

  /** Revisions known held by the container and sent to it (see the module comment). */
  get held(): number {
    return this.heldRevision;
  }
  get sent(): number {
    return this.sentRevision;
  }

  /**
   * Changes the container's credentials: written through at once, pushed with the next ack.
   * Returns the revision that carries the change.
   */
  change(fields: Partial<Credentials>): number {
    this.unsent = { ...this.unsent, ...fields };
    this.write({ ...this.current, ...fields, revision: ++this.revision });
    if (this.starting) this.sentRevision = this.revision; // left STRAM in the file a new process may still be about to read
    return this.revision;
  }

  /**
   * Changes what the file says without a push: what the container learns by other means (a
   * retire command) or reads from the file itself (STRAM's URL after a recovery on a new port).
   */
  note(fields: Partial<Credentials>): void {
    this.write({ ...this.current, ...fields });
  }

  /**
   * A recovered STRAM cannot know which of the credentials in the file reached the container (the
   * previous STRAM may have died between writing a change and pushing it): they all go with the
   * next ack, and so do its store credentials (a recovered STRAM issues new ones: the old STRAM's
   * are renewed by nobody). What the container already holds merges in unchanged.
   */
  resendAll(): void {
    const { stram, stramToken, bufferServer, subscribe, stores } = this.current;
    this.unsent = { stram, stramToken, bufferServer, subscribe, ...(stores ? { stores } : {}) };
    this.write({ ...this.current, revision: ++this.revision });
  }

  /** A new process for this container (launch or replacement) reads `credentials` from its file: nothing is in flight. */
  restart(credentials: Credentials): void {
    this.write({ ...credentials, revision: ++this.revision });
    this.heldRevision = this.sentRevision = this.revision;
    this.starting = true;
    this.unsent = undefined;
    this.inFlight = [];
    this.outbox = [];
    this.seenErrors = new Set();
  }

  send(...commands: Command[]): void {
    this.outbox.push(...commands);
  }

  /**
   * A heartbeat from this container, already checked to come from its own connection: records
   * what it reports and settles the push in flight. A container speaks only for its own operators
   * (it must not skew another's stats or the committed window): OUT_OF_SCOPE otherwise.
   */
  heartbeat(hb: HeartbeatMessage, channel: AckChannel, now: number): Heard {
    const r = this.record;
    // A container runs a handful of operators: a scan, not a Set built per heartbeat.
    for (const s of hb.operators) {
      if (!r.operators.includes(s.id)) throw new SluiceError('OUT_OF_SCOPE', `container ${r.id} reported operator ${s.id}, which it does not run`);
    }
    this.settle(hb.credentialsRevision ?? 0, channel);
    this.starting = false;
    const adopted = r.adopted;
    r.lastHeartbeatAt = now;
    r.heartbeats++;
    r.reportedState = hb.state;
    r.adopted = false;
    if (r.state !== 'exited') r.state = 'running';
    if (hb.errors) {
      for (const e of hb.errors) {
        if (this.seenErrors.has(e)) continue;
        this.seenErrors.add(e);
        r.errors.push(e);
        if (r.errors.length > ERRORS_KEPT) r.errors.shift();
      }
    }
    // Most heartbeats report no failure: nothing to compare with the log.
    const failures = hb.failures ? r.failures.reported(hb.failures, r.restarts) : NO_FAILURES;
    if (hb.counters) r.counters = hb.counters;
    for (const s of hb.operators) r.stats.set(s.id, s);
    const bufferServerChanged = hb.bufferServer !== null && hb.bufferServer !== r.bufferServerUrl;
    if (bufferServerChanged) r.bufferServerUrl = hb.bufferServer;
    return { bufferServerChanged, adopted, failures };
  }

  /** The container reports revision `applied`: what it covers is held; what it does not and went out on another connection goes again. */
  private settle(applied: number, channel: AckChannel): void {
    // Never more than was sent: a container cannot hold what STRAM has not given it.
    this.heldRevision = Math.max(this.heldRevision, Math.min(applied, this.sentRevision));
    if (this.inFlight.length === 0) return;
    const pending = this.inFlight.filter((f) => f.revision > this.heldRevision);
    this.inFlight = pending.filter((f) => f.channel === channel);
    const lost = pending.filter((f) => f.channel !== channel);
    if (lost.length > 0) this.unsent = { ...Object.assign({}, ...lost.map((f) => f.fields)), ...this.unsent };
  }

  /** The commands for this heartbeat's ack: the sealed push first (later commands may need it), then the outbox. */
  drain(channel: AckChannel): Command[] {
    const commands: Command[] = [];
    if (this.unsent) {
      commands.push({ c: 'credentials', box: sealCredentials(channel.session.credentialsKey, { ...this.unsent, revision: this.revision }) });
      this.inFlight.push({ revision: this.revision, fields: this.unsent, channel });
      this.sentRevision = this.revision;
      this.unsent = undefined;
    }
    if (this.outbox.length > 0) commands.push(...this.outbox.splice(0));
    return commands;
  }

  private write(credentials: Credentials): void {
    writeCredentials(this.path, credentials);
    this.current = credentials;
  }
}
