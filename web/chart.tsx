/** A hand-written SVG bar chart of daily charges and earnings (no chart library; attributes only, no inline style). */
import { usd } from './format';

export interface DayTotals {
  day: string;
  charges: number;
  earnings: number;
}

const W = 760;
const H = 220;
const PAD = { left: 56, right: 8, top: 12, bottom: 28 };

export function LedgerChart({ days }: { days: DayTotals[] }) {
  const max = Math.max(0, ...days.flatMap((d) => [d.charges, d.earnings]));
  const top = max > 0 ? max : 1;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, days.length);
  const bar = Math.max(1, slot / 2 - 1);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const ticks = [0, 0.5, 1].map((f) => f * top);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Charges and earnings over the last ${days.length} days`}>
        {ticks.map((t) => (
          <g key={t}>
            <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
            <text class="tick" x={PAD.left - 4} y={y(t) + 4} text-anchor="end">
              {usd(t)}
            </text>
          </g>
        ))}
        {days.map((d, i) => {
          const x = PAD.left + i * slot;
          return (
            <g key={d.day} data-day={d.day}>
              <rect class="charges" x={x + 1} y={y(d.charges)} width={bar} height={PAD.top + plotH - y(d.charges)}>
                <title>{`${d.day} charges ${usd(d.charges)}`}</title>
              </rect>
              <rect
                class="earnings"
                x={x + 1 + bar}
                y={y(d.earnings)}
                width={bar}
                height={PAD.top + plotH - y(d.earnings)}
              >
                <title>{`${d.day} earnings ${usd(d.earnings)}`}</title>
              </rect>
              {i % 5 === 0 && (
                <text class="tick" x={x + slot / 2} y={H - 8} text-anchor="middle">
                  {d.day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span class="key charges">charges</span> <span class="key earnings">earnings</span> per UTC day, last{' '}
        {days.length} days
      </figcaption>
    </figure>
  );
}
