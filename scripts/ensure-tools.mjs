#!/usr/bin/env node
// Usage: node scripts/ensure-tools.mjs [temporal] [stripe-mock] [cosign]   (default: all)
// Finds or installs each pinned tool (see scripts/tools.mjs) and prints `name=/abs/path`
// lines on stdout; progress and decisions go to stderr. Exits 1 on failure.
import { ensureTool, TOOLS } from './tools.mjs';

const known = Object.keys(TOOLS);
const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  console.error(`usage: node scripts/ensure-tools.mjs [${known.join('] [')}]   (default: all)`);
  process.exit(0);
}
const unknown = args.filter((a) => !known.includes(a));
if (unknown.length) {
  console.error(`ensure-tools: unknown tool(s): ${unknown.join(', ')} (known: ${known.join(', ')})`);
  process.exit(1);
}

const names = args.length ? [...new Set(args)] : known;
for (const name of names) {
  try {
    const p = await ensureTool(/** @type {'temporal' | 'stripe-mock' | 'cosign'} */ (name));
    process.stdout.write(`${name}=${p}\n`);
  } catch (err) {
    console.error(`ensure-tools: failed to provide ${name}: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}
