/** `npm run build:workflows`: prebuild the workflow bundle production workers load. */
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WORKFLOWS_PATH } from './lib/worker';

const out = process.argv[2] ?? 'dist/workflow-bundle.js';
const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
await mkdir(dirname(out), { recursive: true });
await writeFile(out, code);
process.stdout.write(`wrote ${out} (${code.length} bytes); run workers with WORKFLOW_BUNDLE_PATH=${out}\n`);
