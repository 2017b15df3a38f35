// Types for scripts/tools.mjs (plain JS so it runs before `npm ci` has installed tsx).
export declare const TEMPORAL_CLI_VERSION: string;
export declare const STRIPE_MOCK_VERSION: string;
export declare const COSIGN_VERSION: string;
export declare function cacheDir(env?: NodeJS.ProcessEnv): string;
export declare function ensureTool(
  name: 'temporal' | 'stripe-mock' | 'cosign',
  opts?: { log?: (...args: unknown[]) => void; env?: NodeJS.ProcessEnv },
): Promise<string>;
