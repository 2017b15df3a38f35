// Filled in by the Temporal harness (tests/helpers/temporal.ts); kept as a no-op until then.
export default async function setup(): Promise<void> {}
