import { encode } from './codec.js';
import { SluiceError } from './errors.js';
import { scanAuth, scanChallenge, scanWelcome } from './handshake-scan.js';
import { randomNonce } from './nonce.js';
import { parseFrame, type AuthRequest, type ChallengeMessage, type WelcomeMessage } from './protocol.js';
import { Session, SessionSide, deriveSessionKeys } from './session.js';
import { decodeIdentifier, hmac, safeEqual, type Token, type TokenIdentifier } from './token.js';

/**
 * Both sides of the challenge / auth / welcome exchange as small state machines with no
 * sockets: the ws layer feeds them frames and sends what they return. Shared by the umbilical
 * (STRAM) and the buffer server; only the token authority and the scope rule differ.
 */

export const AUTH_CONTEXT = 'sluice-auth-v1';
export const SERVER_CONTEXT = 'sluice-server-v1';
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * `binding` is the TLS exporter value of the connection (tls.ts `channelBinding`) under TLS
 * (challenge v:2), absent without TLS (v:1, whose proofs stay exactly as they were).
 */
export function clientProof(password: Uint8Array, nonce: Uint8Array, cnonce: Uint8Array, service: string, binding?: Uint8Array): Buffer {
  return binding ? hmac(password, AUTH_CONTEXT, nonce, cnonce, service, binding) : hmac(password, AUTH_CONTEXT, nonce, cnonce, service);
}

export function serverProof(password: Uint8Array, cnonce: Uint8Array, nonce: Uint8Array, binding?: Uint8Array): Buffer {
  return binding ? hmac(password, SERVER_CONTEXT, cnonce, nonce, binding) : hmac(password, SERVER_CONTEXT, cnonce, nonce);
}

/** The challenge version: 2 when the proofs are bound to a TLS session, 1 without TLS. */
function challengeVersion(binding: Uint8Array | undefined): 1 | 2 {
  return binding ? 2 : 1;
}

/** What a server needs to know about tokens: kept apart so STRAM and buffer servers plug in their own. */
export interface TokenAuthority {
  /**
   * The password of these identifier bytes under this server's key(s). Throws a 4401 SluiceError
   * when the key is unknown or the token is of the wrong kind. A server that accepts several keys
   * at once (a buffer server during a secret rotation) returns one candidate per key —
   * a handful at most: the proof is checked against each, in constant time.
   */
  password(idBytes: Uint8Array, identifier: TokenIdentifier): Buffer | Buffer[];
  /** Throws a 4401 SluiceError when the token is expired, cancelled or revoked. Runs after the proof checks out. */
  checkLive(identifier: TokenIdentifier): void;
  /** Throws a 4403 SluiceError when the authenticated token may not make this request. */
  authorize(identifier: TokenIdentifier, request: AuthRequest): void;
}

export interface AcceptedAuth {
  identifier: TokenIdentifier;
  request: AuthRequest;
  /** The welcome frame, with any extra fields this server adds (e.g. `from`). */
  welcome(extra?: Record<string, unknown>): Buffer;
  /** The MAC'd session (umbilical), derived when first read; buffer-server streams do not use it. */
  readonly session: Session;
  /** Which of the authority's candidate passwords the proof matched (0 when it returns one). */
  keyIndex: number;
}

const HandshakeState = { awaitingAuth: 'awaiting-auth', accepted: 'accepted', failed: 'failed' } as const;
type HandshakeState = (typeof HandshakeState)[keyof typeof HandshakeState];

export class ServerHandshake {
  readonly nonce: Buffer;
  private state: HandshakeState = HandshakeState.awaitingAuth;

  constructor(
    private readonly service: string,
    private readonly authority: TokenAuthority,
    nonce: Buffer = randomNonce(),
    /** The TLS exporter value of this connection; absent on a connection without TLS. */
    private readonly binding?: Buffer,
  ) {
    this.nonce = nonce;
  }

  /** The first frame a server sends, as soon as the socket opens. */
  challenge(): Buffer {
    const message: ChallengeMessage = { t: 'challenge', v: challengeVersion(this.binding), nonce: this.nonce, service: this.service };
    return encode(message);
  }

  /**
   * Checks the client's auth frame. Returns the accepted auth, or throws a SluiceError whose
   * closeCode the caller closes with: 4400 malformed, 4401 not authenticated, 4403 not allowed.
   * A second auth frame on the same connection is refused (replayed auth).
   */
  receive(data: Uint8Array, isBinary: boolean): AcceptedAuth {
    if (this.state !== HandshakeState.awaitingAuth) {
      throw new SluiceError('UNEXPECTED_MESSAGE', `auth received in state ${this.state}; a connection authenticates once`);
    }
    this.state = HandshakeState.failed;
    // The everyday auth read in one pass (handshake-scan.ts); anything else, the general path.
    const message = (isBinary && scanAuth(data)) || parseFrame(data, isBinary, ['auth']);
    const identifier = decodeIdentifier(message.id);
    const candidates = this.authority.password(message.id, identifier);
    const passwords = Array.isArray(candidates) ? candidates : [candidates];
    // Every candidate is tried (no early exit), each compare in constant time.
    let keyIndex = -1;
    for (let i = 0; i < passwords.length; i++) {
      if (safeEqual(clientProof(passwords[i]!, this.nonce, message.cnonce, this.service, this.binding), message.proof) && keyIndex < 0) keyIndex = i;
    }
    if (keyIndex < 0) {
      throw new SluiceError(
        'BAD_PROOF',
        this.binding
          ? 'proof does not match the token and this TLS session; the token is forged or for another key, or the proof was made on another connection'
          : 'proof does not match the token; the token is forged, tampered or for another key',
      );
    }
    const password = passwords[keyIndex]!;
    this.authority.checkLive(identifier);
    const { t: _t, id: _id, cnonce, proof: _proof, ...request } = message;
    this.authority.authorize(identifier, request);
    this.state = HandshakeState.accepted;
    const nonce = this.nonce;
    const binding = this.binding;
    let session: Session | undefined;
    return {
      identifier,
      request,
      welcome: (extra) => encode({ ...extra, t: 'welcome', proof: serverProof(password, cnonce, nonce, binding) }),
      // Derived when first asked for: only the umbilical MACs its messages (two HMACs a buffer-server connection never needs).
      get session() {
        return (session ??= new Session(deriveSessionKeys(password, nonce, cnonce), SessionSide.server));
      },
      keyIndex,
    };
  }
}

/** A checked welcome, and the client's end of the MAC'd session it opens. */
export interface WelcomedClient {
  welcome: WelcomeMessage;
  readonly session: Session;
}

/** The client side: answer the challenge with a proof of possession, then check the server's proof. */
export class ClientHandshake {
  private nonce: Buffer | undefined;
  private readonly cnonce = randomNonce();

  constructor(
    private readonly token: Token,
    private readonly request: AuthRequest,
    /** The TLS exporter value of this connection; absent on a connection without TLS. */
    private readonly binding?: Buffer,
  ) {}

  /** Takes the challenge frame, returns the auth frame. Refuses a challenge for another service. */
  answer(data: Uint8Array, isBinary: boolean): Buffer {
    if (this.nonce) throw new SluiceError('UNEXPECTED_MESSAGE', 'a second challenge arrived');
    const challenge = (isBinary && scanChallenge(data)) || parseFrame(data, isBinary, ['challenge']);
    if (challenge.service !== this.token.service) {
      throw new SluiceError('WRONG_SERVICE', `server says it is "${challenge.service}" but the token is for "${this.token.service}"; not sending a proof`);
    }
    if (challenge.v !== challengeVersion(this.binding)) {
      // Without TLS a v:2 challenge cannot be answered (a malformed one here); over TLS a v:1
      // challenge would leave the proof unbound, which a relay could forward: refused as such.
      throw this.binding
        ? new SluiceError('NOT_BOUND', 'server sent a v:1 challenge over TLS; a proof would not be bound to the TLS session')
        : new SluiceError('INVALID_MESSAGE', 'challenge: v:2 binds the proof to TLS, and this connection has none; connect to wss://');
    }
    this.nonce = Buffer.from(challenge.nonce);
    const proof = clientProof(this.token.password, this.nonce, this.cnonce, this.token.service, this.binding);
    return encode({ t: 'auth', id: Buffer.from(this.token.identifier), cnonce: this.cnonce, proof, ...this.request });
  }

  /**
   * Takes the welcome frame; checks that the server holds the key too. Returns the welcome and
   * the session, whose keys are derived when it is first read (a buffer-server client never reads it).
   */
  welcome(data: Uint8Array, isBinary: boolean): WelcomedClient {
    const nonce = this.nonce;
    if (!nonce) throw new SluiceError('UNEXPECTED_MESSAGE', 'welcome before challenge');
    const welcome = (isBinary && scanWelcome(data)) || parseFrame(data, isBinary, ['welcome']);
    if (!safeEqual(serverProof(this.token.password, this.cnonce, nonce, this.binding), welcome.proof)) {
      throw new SluiceError('BAD_PROOF', 'the server could not prove it holds the token key; it is not the real server');
    }
    const { password } = this.token;
    const cnonce = this.cnonce;
    let session: Session | undefined;
    return {
      welcome,
      get session() {
        return (session ??= new Session(deriveSessionKeys(password, nonce, cnonce), SessionSide.client));
      },
    };
  }
}

