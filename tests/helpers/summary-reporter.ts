/**
 * Prints one plain closing line, `tests: N passed, N failed[, N skipped]`, after vitest's
 * own summary, so CI systems that read a plain count understand the run.
 */
import type { File, Task } from '@vitest/runner';
import type { Reporter } from 'vitest/reporters';

function count(tasks: readonly Task[], acc = { passed: 0, failed: 0, skipped: 0 }) {
  for (const t of tasks) {
    if (t.type === 'suite') count(t.tasks, acc);
    else if (t.result?.state === 'pass') acc.passed++;
    else if (t.result?.state === 'fail') acc.failed++;
    else acc.skipped++;
  }
  return acc;
}

export default class SummaryReporter implements Reporter {
  onFinished(files: File[] = [], errors: unknown[] = []): void {
    const { passed, failed, skipped } = count(files);
    const failures = failed + (errors.length > 0 && failed === 0 ? errors.length : 0);
    const line = `tests: ${passed} passed, ${failures} failed${skipped ? `, ${skipped} skipped` : ''}`;
    process.stdout.write(`\n${line}\n`);
  }
}
