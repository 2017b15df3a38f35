/**
 * A real browser for the dashboard tests: playwright-core driving Debian's chromium (`.ci/run` installs it;
 * CHROMIUM_PATH overrides the path). One browser per test file. Every console error and uncaught page error fails
 * the test, except the browser's own "Failed to load resource" line for a request the test said would fail (an
 * action whose failure the page must show) — each such expectation is consumed once.
 *
 * Screenshots go to test-results/screenshots/ (gitignored); the folder is printed once per file.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const SCREENSHOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-results/screenshots');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const FAILED_RESOURCE = /^Failed to load resource: the server responded with a status of (\d{3})/;

export interface WatchedPage {
  page: Page;
  /** The next failed response to `method path` (pathname, no query) with `status` is expected, not an error. */
  expectHttpError(path: string, status: number): void;
  /** Throws if any unexpected console error or page error happened; clears the list. */
  assertClean(): void;
  /** The session token the app keeps in this tab's sessionStorage (null when signed out). */
  storedToken(): Promise<string | null>;
  /** How many entries the app left in localStorage (it must leave none). */
  localStorageSize(): Promise<number>;
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  console.log(`dashboard screenshots: ${SCREENSHOT_DIR}`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export async function watchedPage(browser: Browser, prefix: string): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const expected: { path: string; status: number }[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const failed = FAILED_RESOURCE.exec(msg.text());
    if (failed) {
      const url = msg.location().url;
      const path = url ? new URL(url).pathname : '';
      const i = expected.findIndex((e) => e.path === path && e.status === Number(failed[1]));
      if (i >= 0) {
        expected.splice(i, 1);
        return;
      }
    }
    errors.push(`console.error: ${msg.text()} (${msg.location().url})`);
  });
  return {
    page,
    expectHttpError(path, status) {
      expected.push({ path, status });
    },
    assertClean() {
      const found = errors.splice(0);
      if (found.length > 0) throw new Error(`browser reported errors:\n${found.join('\n')}`);
    },
    // Strings, not functions: they run in the page, whose globals the Node type-check does not know.
    storedToken: () => page.evaluate<string | null>("sessionStorage.getItem('ee.session')"),
    localStorageSize: () => page.evaluate<number>('localStorage.length'),
    async screenshot(name) {
      const file = join(SCREENSHOT_DIR, `${prefix}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: () => context.close(),
  };
}
