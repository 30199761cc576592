import { describe, expect, it } from 'vitest';
import { ManualClock, StramSecretManager, TokenKind, decodeIdentifier, tokenFromText, type Token } from '@sluice/common';
import { InsecureDelegationTokens, StramAuthority, type DelegationTokens } from './authority.js';

/**
 * Who the tokens STRAM issues speak for: an app launched for someone (by a gateway) carries the
 * person as owner and the launcher as realUser in every token, delegation and buffer-server alike;
 * an app its owner launched has an empty realUser. The renewer is always this app's STRAM.
 */

const S = 1_000;
const OWNER = 'alice@EXAMPLE.TEST';
const GATEWAY = 'HTTP/localhost@EXAMPLE.TEST';

function authority(tokens: DelegationTokens, clock: ManualClock, realUser: string): StramAuthority {
  return new StramAuthority({ app: 'app-1', tokens, clock, owner: OWNER, realUser, bufferTokenTtlMs: 60 * S, insecure: false });
}

const who = (t: Token) => {
  const id = decodeIdentifier(t.identifier);
  return { kind: id.kind, owner: id.owner, realUser: id.realUser, renewer: id.renewer };
};

describe('StramAuthority: owner and realUser of the tokens it issues', () => {
  const stores: [string, (clock: ManualClock) => Promise<DelegationTokens>][] = [
    ['the secret manager', (clock) => StramSecretManager.open({ app: 'app-1', stateDir: null, clock, renewIntervalMs: 60 * S, maxLifetimeMs: 600 * S, keyUpdateIntervalMs: 600 * S })],
    ['the insecure store', async (clock) => new InsecureDelegationTokens(clock, 600 * S)],
  ];

  for (const [name, open] of stores) {
    it(`STRAM, subscribe and control tokens carry owner and realUser (${name})`, async () => {
      const clock = new ManualClock();
      const a = authority(await open(clock), clock, GATEWAY);
      const grant = await a.grant('c2', 'bs-c2', new Map([['bs-c1', ['words']]]));
      const expected = { owner: OWNER, realUser: GATEWAY, renewer: 'stram:app-1' };
      expect(who(grant.stramToken)).toEqual({ kind: TokenKind.stram, ...expected });
      expect(who(tokenFromText(grant.subscribe['bs-c1']!))).toEqual({ kind: TokenKind.bufferServer, ...expected });
      expect(who(tokenFromText(a.subscribeToken('c2', 'bs-c1', ['words'])))).toEqual({ kind: TokenKind.bufferServer, ...expected });
      expect(who(a.controlToken('bs-c1'))).toEqual({ kind: TokenKind.bufferServer, ...expected });
    });
  }

  it('an app its owner launched issues tokens with an empty realUser', async () => {
    const clock = new ManualClock();
    const a = authority(await stores[0]![1](clock), clock, '');
    const grant = await a.grant('c2', 'bs-c2', new Map([['bs-c1', ['words']]]));
    expect(who(grant.stramToken)).toMatchObject({ owner: OWNER, realUser: '' });
    expect(who(tokenFromText(grant.subscribe['bs-c1']!))).toMatchObject({ owner: OWNER, realUser: '' });
  });
});
