/** Display helpers. Pure; no DOM. */
export const usd = (n: number | null | undefined) =>
  n === null || n === undefined
    ? '—'
    : `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`;

export const when = (iso: string | null | undefined) =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—';

export const short = (s: string | null | undefined, n = 12) => (!s ? '—' : s.length > n ? `${s.slice(0, n)}…` : s);

/** Split `actual` into runs that equal / differ from `baseline` position by position (for highlighting). */
export function diffRuns(actual: string, baseline: string | null): { text: string; differs: boolean }[] {
  if (baseline === null) return [{ text: actual, differs: false }];
  const runs: { text: string; differs: boolean }[] = [];
  for (let i = 0; i < actual.length; i++) {
    const differs = actual[i] !== baseline[i];
    const last = runs[runs.length - 1];
    if (last && last.differs === differs) last.text += actual[i];
    else runs.push({ text: actual[i]!, differs });
  }
  return runs;
}
