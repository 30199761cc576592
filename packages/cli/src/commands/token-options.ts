import type { Command } from 'commander';
import { parseDuration } from '@sluice/common';
import type { StramOptions } from '@sluice/stram';

/**
 * Token lifetimes (DESIGN.md "Token lifetime", issue 6), shared by `sluice launch` and `sluice
 * demo`. Shortened lifetimes let a short run go through several renewals, reissues and key rolls.
 */
export interface TokenFlags {
  renewInterval?: string;
  maxLifetime?: string;
  keyRoll?: string;
  tokenScan?: string;
}

export function addTokenOptions(cmd: Command): Command {
  return cmd
    .option('--renew-interval <duration>', 'STRAM token renew interval: renewed at 75% of it (default 1d)')
    .option('--max-lifetime <duration>', 'token max lifetime: tokens are reissued at 75% of it (default 7d)')
    .option('--key-roll <duration>', 'master key update interval (default 1d)')
    .option('--token-scan <duration>', 'expired token removal scan interval (default 1h)');
}

export function tokenOptions(flags: TokenFlags): Pick<StramOptions, 'renewIntervalMs' | 'maxLifetimeMs' | 'keyUpdateIntervalMs' | 'removalScanIntervalMs'> {
  return {
    ...(flags.renewInterval ? { renewIntervalMs: parseDuration(flags.renewInterval, '--renew-interval') } : {}),
    ...(flags.maxLifetime ? { maxLifetimeMs: parseDuration(flags.maxLifetime, '--max-lifetime') } : {}),
    ...(flags.keyRoll ? { keyUpdateIntervalMs: parseDuration(flags.keyRoll, '--key-roll') } : {}),
    ...(flags.tokenScan ? { removalScanIntervalMs: parseDuration(flags.tokenScan, '--token-scan') } : {}),
  };
}
