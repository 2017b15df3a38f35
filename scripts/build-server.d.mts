/** Types of scripts/build-server.mjs (the server bundle of `npm start`). */
export declare const SERVER_BUNDLE: string;
export declare function buildServerBundle(): Promise<string>;
export declare function ensureServerBundle(opts?: {
  log?: (message: string) => void;
  force?: boolean;
}): Promise<string>;
