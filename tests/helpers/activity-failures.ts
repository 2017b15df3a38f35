import { ApplicationFailure } from '@temporalio/common';
import { expect } from 'vitest';

/** Await a rejection and return the thrown value (fails the test when the activity succeeds). */
export async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the activity to fail');
}

/** The activity failed permanently with this failure type (Temporal will not retry it). */
export function expectNonRetryable(err: unknown, type: string): void {
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type, nonRetryable: true });
}
