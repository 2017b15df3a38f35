/** Types of scripts/build-web.mjs (the dashboard build, `npm run build:web`). */
export declare const WEB_OUT_DIR: string;
export declare function buildWeb(options?: { outDir?: string }): Promise<{ js: string; css: string; outDir: string }>;
