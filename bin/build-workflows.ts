/**
 * `npm run build:workflows [out] [--tracing]`: prebuild the workflow bundle production workers load; `--tracing`
 * includes the OpenTelemetry workflow interceptors (for workers run with OTEL_EXPORTER_OTLP_ENDPOINT).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { bundleWorkflows } from './lib/worker';

const out = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'dist/workflow-bundle.js';
const { code } = await bundleWorkflows({ tracing: process.argv.includes('--tracing') });
await mkdir(dirname(out), { recursive: true });
await writeFile(out, code);
process.stdout.write(`wrote ${out} (${code.length} bytes); run workers with WORKFLOW_BUNDLE_PATH=${out}\n`);
