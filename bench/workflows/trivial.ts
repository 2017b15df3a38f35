/** The Temporal ceiling bench's workflow (bench/temporal-ceiling.ts): one workflow task, no activity, no timer. */
export async function trivial(input: { n: number }): Promise<{ n: number }> {
  return input;
}
