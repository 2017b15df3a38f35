import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../helpers/prng';
import {
  DEFAULT_CAPACITY_PRICES,
  capacityPriceMicros,
  capacityPricesFromSettings,
  hourlyCostMicros,
  machineSizeMultiplier,
  maintainerAutoShares,
  rateCard,
  slaMultiplier,
  splitCharge,
  usageChargeMicros,
} from '../../core/pricing';

describe('rateCard (GET /api/v1/billing/rates)', () => {
  it('has v1 shape and values exactly', () => {
    const card = rateCard();
    expect(card).toStrictEqual({
      rates: { cpu_per_vcpu_hr: 0.04, memory_per_gb_hr: 0.005, gpu_per_gpu_hr: 0.5, storage_per_gb_mo: 0.1 },
      currency: 'USD',
    });
    expect(Object.keys(card)).toEqual(['rates', 'currency']);
    expect(Object.keys(card.rates)).toEqual([
      'cpu_per_vcpu_hr',
      'memory_per_gb_hr',
      'gpu_per_gpu_hr',
      'storage_per_gb_mo',
    ]);
    expect(JSON.parse(JSON.stringify(card))).toStrictEqual(card);
  });

  it('returns a fresh object each call', () => {
    const a = rateCard();
    a.rates.cpu_per_vcpu_hr = 99;
    expect(rateCard().rates.cpu_per_vcpu_hr).toBe(0.04);
  });
});

describe('multipliers', () => {
  it.each([
    ['adhoc', 1],
    ['three_nines', 1.5],
    ['four_nines', 2],
    ['five_nines', 3],
    ['ADHOC', 1],
    ['six_nines', 1],
    ['constructor', 1],
    [undefined, 1],
  ] as const)('sla %s → %d', (k, m) => expect(slaMultiplier(k)).toBe(m));

  it.each([
    ['default', 1],
    ['h100', 10],
    ['H100', 1],
    ['a100', 1],
    ['__proto__', 1],
    [null, 1],
  ] as const)('size %s → %d', (k, m) => expect(machineSizeMultiplier(k)).toBe(m));
});

describe('hourlyCostMicros', () => {
  it.each([
    // (2 × 40_000 + 4 × 5_000 + 0) × 1 × 1 = 100_000 ($0.10; v1 float 0.1) — also the deployment defaults
    [{ cpuVcpus: 2, memoryGb: 4, gpuCount: 0 }, 100_000],
    [{ cpuVcpus: 2, memoryGb: 4, gpuCount: 0, slaClass: 'adhoc', machineSize: 'default' }, 100_000],
    // (4 × 40_000 + 8 × 5_000) × 1.5 = 200_000 × 1.5 = 300_000 (v1 float 0.30000000000000004)
    [{ cpuVcpus: 4, memoryGb: 8, gpuCount: 0, slaClass: 'three_nines', machineSize: 'default' }, 300_000],
    // (8 × 40_000 + 32 × 5_000 + 1 × 500_000) × 3 × 10 = 980_000 × 30 = 29_400_000 ($29.40; v1 comment's 25.20 is wrong)
    [{ cpuVcpus: 8, memoryGb: 32, gpuCount: 1, slaClass: 'five_nines', machineSize: 'h100' }, 29_400_000],
    // four_nines: (1 × 40_000 + 1 × 5_000) × 2 = 90_000
    [{ cpuVcpus: 1, memoryGb: 1, gpuCount: 0, slaClass: 'four_nines' }, 90_000],
    // unknown sla / size → 1.0: 2 × 500_000 = 1_000_000
    [{ cpuVcpus: 0, memoryGb: 0, gpuCount: 2, slaClass: 'platinum', machineSize: 'a100' }, 1_000_000],
    [{ cpuVcpus: 0, memoryGb: 0, gpuCount: 0 }, 0],
    // fractional quantities, exact: 0.5 × 40_000 + 0.5 × 5_000 = 20_000 + 2_500 = 22_500
    [{ cpuVcpus: 0.5, memoryGb: 0.5, gpuCount: 0 }, 22_500],
    // 0.1 vCPU is one tenth exactly: 0.1 × 40_000 = 4_000
    [{ cpuVcpus: 0.1, memoryGb: 0, gpuCount: 0 }, 4_000],
    // 0.1 + 0.2 vCPU reads as 0.30000000000000004 × 40_000 = 12_000.0000000000016 → 12_000
    [{ cpuVcpus: 0.1 + 0.2, memoryGb: 0, gpuCount: 0 }, 12_000],
  ])('%j → %d', (input, expected) => {
    expect(hourlyCostMicros(input)).toBe(expected);
  });

  describe('rounding: half-up, once, on the total', () => {
    it.each([
      // 0.0001 GB × 5_000 = 0.5 micro → rounds up to 1
      [{ cpuVcpus: 0, memoryGb: 0.0001, gpuCount: 0 }, 1],
      // 0.00009 GB × 5_000 = 0.45 → 0
      [{ cpuVcpus: 0, memoryGb: 0.00009, gpuCount: 0 }, 0],
      // 0.00011 GB × 5_000 = 0.55 → 1
      [{ cpuVcpus: 0, memoryGb: 0.00011, gpuCount: 0 }, 1],
      // 0.0003 GB × 5_000 = 1.5; × 3 (five_nines) = 4.5 → 5 (rounding after the multiplier, not before: 2 × 3 = 6)
      [{ cpuVcpus: 0, memoryGb: 0.0003, gpuCount: 0, slaClass: 'five_nines' }, 5],
      // 0.0001 GB × 5_000 × 1.5 = 0.75 → 1
      [{ cpuVcpus: 0, memoryGb: 0.0001, gpuCount: 0, slaClass: 'three_nines' }, 1],
      // 0.0000125 vCPU × 40_000 = 0.5 and 0.0001 GB × 5_000 = 0.5: total 1.0 → 1 (per-part rounding would say 2)
      [{ cpuVcpus: 0.0000125, memoryGb: 0.0001, gpuCount: 0 }, 1],
      // 2.5 vCPU × 40_000 = 100_000; 0.3 GB × 5_000 = 1_500; 0.001 GPU × 500_000 = 500 → 102_000 × 1.5 = 153_000
      [{ cpuVcpus: 2.5, memoryGb: 0.3, gpuCount: 0.001, slaClass: 'three_nines' }, 153_000],
      // 0.00001 GPU × 500_000 = 5; × 1.5 = 7.5 → 8
      [{ cpuVcpus: 0, memoryGb: 0, gpuCount: 0.00001, slaClass: 'three_nines' }, 8],
    ])('%j → %d', (input, expected) => {
      expect(hourlyCostMicros(input)).toBe(expected);
    });
  });

  it('whole-number quantities are always exact integers', () => {
    const rand = mulberry32(42);
    const slas = ['adhoc', 'three_nines', 'four_nines', 'five_nines', 'other'];
    const sizes = ['default', 'h100', 'other'];
    for (let i = 0; i < 1000; i++) {
      const cpu = Math.floor(rand() * 256);
      const mem = Math.floor(rand() * 2048);
      const gpu = Math.floor(rand() * 9);
      const sla = slas[Math.floor(rand() * slas.length)] as string;
      const size = sizes[Math.floor(rand() * sizes.length)] as string;
      const base = cpu * 40_000 + mem * 5_000 + gpu * 500_000;
      const expected = (base * slaMultiplier(sla) * 10 * machineSizeMultiplier(size) * 10) / 100;
      expect(Number.isInteger(expected)).toBe(true);
      expect(hourlyCostMicros({ cpuVcpus: cpu, memoryGb: mem, gpuCount: gpu, slaClass: sla, machineSize: size })).toBe(
        expected,
      );
    }
  });

  it('rejects negative or non-finite quantities', () => {
    expect(() => hourlyCostMicros({ cpuVcpus: -1, memoryGb: 0, gpuCount: 0 })).toThrow(RangeError);
    expect(() => hourlyCostMicros({ cpuVcpus: 0, memoryGb: Number.NaN, gpuCount: 0 })).toThrow(RangeError);
    expect(() => hourlyCostMicros({ cpuVcpus: 0, memoryGb: 0, gpuCount: Number.POSITIVE_INFINITY })).toThrow(
      RangeError,
    );
    expect(() => hourlyCostMicros({ cpuVcpus: 1e300, memoryGb: 0, gpuCount: 0 })).toThrow(RangeError);
  });
});

describe('usageChargeMicros', () => {
  it.each([
    // 1 h at 100_000/h = 100_000
    [100_000, 3_600_000, 100_000],
    // 30 min at 100_001/h = 50_000.5 → 50_001 (half-up)
    [100_001, 1_800_000, 50_001],
    // 1 min at 100_000/h = 1_666.67 → 1_667
    [100_000, 60_000, 1_667],
    // 1 ms at 1_799_999/h = 1_799_999 / 3_600_000 = 0.49999… → 0; at 1_800_000/h = 0.5 → 1
    [1_799_999, 1, 0],
    [1_800_000, 1, 1],
    [100_000, 0, 0],
    // 2.5 h at 29_400_000/h = 73_500_000
    [29_400_000, 9_000_000, 73_500_000],
  ])('%d/h for %d ms → %d', (hourlyMicros, elapsedMs, expected) => {
    expect(usageChargeMicros({ hourlyMicros, elapsedMs })).toBe(expected);
  });

  it('rejects bad input', () => {
    expect(() => usageChargeMicros({ hourlyMicros: -1, elapsedMs: 1 })).toThrow(RangeError);
    expect(() => usageChargeMicros({ hourlyMicros: 1, elapsedMs: -1 })).toThrow(RangeError);
    expect(() => usageChargeMicros({ hourlyMicros: 1.5, elapsedMs: 1 })).toThrow(RangeError);
    expect(() => usageChargeMicros({ hourlyMicros: 1, elapsedMs: 0.5 })).toThrow(RangeError);
  });
});

describe('splitCharge', () => {
  const one = [{ accountId: 'c1', shareBps: 10_000, label: 'core' }];

  it('billing.md §4.3, agent has an account: 100_000 → op 70_000, contributor 15_000, platform 15_000', () => {
    // operator = 100_000 × 7000 / 10000 = 70_000 (v1 float 0.06999999999999999)
    // cut = 30_000; pool = 30_000 × 5000 / 10000 = 15_000; one rule at 10000 bps → 15_000; platform 30_000 − 15_000
    expect(splitCharge({ chargeMicros: 100_000, contributorPoolBps: 5000, contributorShares: one })).toStrictEqual({
      operator: 70_000,
      platformCut: 30_000,
      pool: 15_000,
      contributors: [{ accountId: 'c1', amount: 15_000, shareBps: 10_000, label: 'core' }],
      platform: 15_000,
      overallocated: false,
    });
  });

  it('billing.md §4.3, agent without account (operatorBps 0): contributor 50_000, platform 50_000', () => {
    // cut = 100_000; pool = 50_000 → contributor 50_000; platform 100_000 − 50_000
    const r = splitCharge({ chargeMicros: 100_000, operatorBps: 0, contributorPoolBps: 5000, contributorShares: one });
    expect(r.operator).toBe(0);
    expect(r.contributors.map((c) => c.amount)).toEqual([50_000]);
    expect(r.platform).toBe(50_000);
  });

  it('odd micros: the operator is floored and the leftover stays with the platform side', () => {
    // operator = floor(100_001 × 0.7) = floor(70_000.7) = 70_000; cut = 30_001
    // pool = floor(30_001 × 0.5) = floor(15_000.5) = 15_000; platform = 30_001 − 15_000 = 15_001
    const r = splitCharge({ chargeMicros: 100_001, contributorPoolBps: 5000, contributorShares: one });
    expect([r.operator, r.pool, r.contributors[0]?.amount, r.platform]).toEqual([70_000, 15_000, 15_000, 15_001]);
    // 1 micro: operator floor(0.7) = 0, cut 1, pool floor(0.5) = 0 → platform 1
    const tiny = splitCharge({ chargeMicros: 1, contributorPoolBps: 5000, contributorShares: one });
    expect([tiny.operator, tiny.pool, tiny.contributors[0]?.amount, tiny.platform]).toEqual([0, 0, 0, 1]);
  });

  it('rules below 10000 bps leave the unallocated part with the platform', () => {
    // cut 30_000, pool 15_000; one rule at 2500 bps → 15_000 × 0.25 = 3_750; platform 30_000 − 3_750 = 26_250
    const r = splitCharge({
      chargeMicros: 100_000,
      contributorPoolBps: 5000,
      contributorShares: [{ accountId: 'c1', shareBps: 2500 }],
    });
    expect(r.contributors).toStrictEqual([{ accountId: 'c1', amount: 3_750, shareBps: 2500 }]);
    expect(r.platform).toBe(26_250);
  });

  it('splits the allocated part proportionally with exact sums', () => {
    // cut 30_000, pool 15_000; rules 3333 + 3333 = 6666 bps → allocated floor(15_000 × 0.6666) = 9_999
    // split 9_999 by (3333, 3333): 4_999.5 each → 5_000 to index 0, 4_999 to index 1; platform 30_000 − 9_999 = 20_001
    const r = splitCharge({
      chargeMicros: 100_000,
      contributorPoolBps: 5000,
      contributorShares: [
        { accountId: 'a', shareBps: 3333 },
        { accountId: 'b', shareBps: 3333 },
      ],
    });
    expect(r.contributors.map((c) => c.amount)).toEqual([5_000, 4_999]);
    expect(r.platform).toBe(20_001);
  });

  it('over-allocated rules (Σ > 10000) credit nobody and keep the whole cut on the platform', () => {
    const r = splitCharge({
      chargeMicros: 100_000,
      contributorPoolBps: 5000,
      contributorShares: [
        { accountId: 'a', shareBps: 6000 },
        { accountId: 'b', shareBps: 5000 },
      ],
    });
    expect(r.overallocated).toBe(true);
    expect(r.contributors.map((c) => c.amount)).toEqual([0, 0]);
    expect(r.platform).toBe(30_000);
  });

  it('negative and zero bps count as 0; duplicates are kept as separate entries', () => {
    // Σ max(0, bps) = 0 + 5000 + 5000 = 10000 → pool 15_000 split 0 / 7_500 / 7_500
    const r = splitCharge({
      chargeMicros: 100_000,
      contributorPoolBps: 5000,
      contributorShares: [
        { accountId: 'x', shareBps: -20_000 },
        { accountId: 'a', shareBps: 5000 },
        { accountId: 'a', shareBps: 5000 },
      ],
    });
    expect(r.overallocated).toBe(false);
    expect(r.contributors.map((c) => [c.accountId, c.amount])).toEqual([
      ['x', 0],
      ['a', 7_500],
      ['a', 7_500],
    ]);
    expect(r.platform).toBe(15_000);
  });

  it('no contributors, or a zero pool: the pool stays with the platform', () => {
    const none = splitCharge({ chargeMicros: 100_000, contributorPoolBps: 5000, contributorShares: [] });
    expect([none.operator, none.contributors, none.platform]).toEqual([70_000, [], 30_000]);
    const zero = splitCharge({ chargeMicros: 100_000, contributorPoolBps: 0, contributorShares: one });
    expect([zero.pool, zero.contributors[0]?.amount, zero.platform]).toEqual([0, 0, 30_000]);
  });

  it('clamps bps to [0, 10000] and truncates fractions like int()', () => {
    // pool bps 20000 → 10000: pool = whole cut 30_000 to the contributor, platform 0
    const hi = splitCharge({ chargeMicros: 100_000, contributorPoolBps: 20_000, contributorShares: one });
    expect([hi.pool, hi.platform]).toEqual([30_000, 0]);
    const lo = splitCharge({ chargeMicros: 100_000, contributorPoolBps: -5, contributorShares: one });
    expect([lo.pool, lo.platform]).toEqual([0, 30_000]);
    // operator bps 12000 → 10000: everything to the operator
    const op = splitCharge({
      chargeMicros: 100_000,
      operatorBps: 12_000,
      contributorPoolBps: 5000,
      contributorShares: one,
    });
    expect([op.operator, op.platform, op.contributors[0]?.amount]).toEqual([100_000, 0, 0]);
    // 5000.9 → 5000
    expect(splitCharge({ chargeMicros: 100_000, contributorPoolBps: 5000.9, contributorShares: one }).pool).toBe(
      15_000,
    );
  });

  it('rejects bad input', () => {
    expect(() => splitCharge({ chargeMicros: -1, contributorPoolBps: 0, contributorShares: [] })).toThrow(RangeError);
    expect(() => splitCharge({ chargeMicros: 1.5, contributorPoolBps: 0, contributorShares: [] })).toThrow(RangeError);
    expect(() => splitCharge({ chargeMicros: 1, contributorPoolBps: Number.NaN, contributorShares: [] })).toThrow(
      RangeError,
    );
    expect(() =>
      splitCharge({ chargeMicros: 1, contributorPoolBps: 0, contributorShares: [{ accountId: 'a', shareBps: 1.5 }] }),
    ).toThrow(RangeError);
  });

  it('1000 seeded cases: operator + Σ contributors + platform === charge, all parts ≥ 0', () => {
    const rand = mulberry32(0xb111);
    for (let c = 0; c < 1000; c++) {
      const magnitude = [100, 100_000, 1e9, 1e13, Number.MAX_SAFE_INTEGER][Math.floor(rand() * 5)] as number;
      const chargeMicros = Math.floor(rand() * magnitude);
      const operatorBps = rand() < 0.3 ? 0 : rand() < 0.5 ? 7000 : Math.floor(rand() * 12_000) - 1000;
      const contributorPoolBps = Math.floor(rand() * 12_000) - 1000;
      const n = Math.floor(rand() * 6);
      const shares = Array.from({ length: n }, (_, i) => ({
        accountId: `acc-${i}`,
        shareBps:
          rand() < 0.1
            ? -Math.floor(rand() * 100)
            : Math.floor(rand() * (rand() < 0.2 ? 6000 : 10_000 / Math.max(1, n))),
      }));
      const r = splitCharge({ chargeMicros, operatorBps, contributorPoolBps, contributorShares: shares });
      const distributed = r.contributors.reduce((a, x) => a + x.amount, 0);
      expect(r.operator + distributed + r.platform).toBe(chargeMicros);
      expect(r.platformCut).toBe(chargeMicros - r.operator);
      expect(distributed).toBeLessThanOrEqual(r.pool);
      expect(r.contributors).toHaveLength(n);
      for (const v of [r.operator, r.platform, r.pool, ...r.contributors.map((x) => x.amount)]) {
        expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
      }
      if (r.overallocated) expect(distributed).toBe(0);
    }
  });
});

describe('maintainerAutoShares (billing.md §4.2 step 2)', () => {
  it.each([
    [[], []],
    [['a'], [10_000]],
    [
      ['a', 'b'],
      [5_000, 5_000],
    ],
    // 10000 div 3 = 3333, rem 1 → the first gets 3334
    [
      ['a', 'b', 'c'],
      [3_334, 3_333, 3_333],
    ],
    // 10000 div 7 = 1428, rem 4 → the first four get 1429
    [
      ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
      [1429, 1429, 1429, 1429, 1428, 1428, 1428],
    ],
  ])('%j → %j', (ids, bps) => {
    const shares = maintainerAutoShares(ids);
    expect(shares.map((s) => s.shareBps)).toEqual(bps);
    expect(shares.map((s) => s.accountId)).toEqual(ids);
    expect(shares.every((s) => s.label === 'maintainer-auto')).toBe(true);
    if (ids.length > 0) expect(bps.reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('keeps duplicates (two maintainers mapped to one account)', () => {
    expect(maintainerAutoShares(['a', 'a']).map((s) => [s.accountId, s.shareBps])).toEqual([
      ['a', 5000],
      ['a', 5000],
    ]);
  });
});

describe('capacity pricing (billing.md §6)', () => {
  it.each([
    // tiny 25 × 1 unit × 1 month = $25
    [{ nodeSize: 'tiny', months: 1 }, 25_000_000],
    // standard 100 × 2 × 3 = $600
    [{ nodeSize: 'standard', months: 3, minWarmCount: 2 }, 600_000_000],
    // llm 500 × 1 × 12 = $6000
    [{ nodeSize: 'llm', months: 12 }, 6_000_000_000],
    // unknown size → tiny price: 25 × 4 × 1 = $100
    [{ nodeSize: 'huge', months: 1, minWarmCount: 4 }, 100_000_000],
    [{ nodeSize: ' Standard ', months: 1 }, 100_000_000],
    [{ nodeSize: 'tiny', months: 0 }, 0],
    // custom prices in micros; negative → 0
    [{ nodeSize: 'tiny', months: 2, prices: { tiny: 12_340_000 } }, 24_680_000],
    [{ nodeSize: 'llm', months: 2, prices: { llm: -1_000_000 } }, 0],
    // round(x, 2) half-up on cents: $0.005 × 1 × 1 = half a cent → $0.01; $0.004999 → $0.00
    [{ nodeSize: 'tiny', months: 1, prices: { tiny: 5_000 } }, 10_000],
    [{ nodeSize: 'tiny', months: 1, prices: { tiny: 4_999 } }, 0],
    // $0.333333 × 3 × 1 = $0.999999 → $1.00
    [{ nodeSize: 'tiny', months: 1, minWarmCount: 3, prices: { tiny: 333_333 } }, 1_000_000],
  ])('%j → %d', (input, expected) => {
    expect(capacityPriceMicros(input)).toBe(expected);
  });

  it('rejects non-integer or negative counts', () => {
    expect(() => capacityPriceMicros({ nodeSize: 'tiny', months: 1.5 })).toThrow(RangeError);
    expect(() => capacityPriceMicros({ nodeSize: 'tiny', months: -1 })).toThrow(RangeError);
    expect(() => capacityPriceMicros({ nodeSize: 'tiny', months: 1, minWarmCount: -1 })).toThrow(RangeError);
    expect(() => capacityPriceMicros({ nodeSize: 'tiny', months: 1, prices: { tiny: 0.5 } })).toThrow(RangeError);
  });

  it('reads the price settings: blank/unparsable → default, negative → 0', () => {
    expect(capacityPricesFromSettings({})).toStrictEqual(DEFAULT_CAPACITY_PRICES);
    expect(capacityPricesFromSettings({ tiny: '', standard: 'abc', llm: '  ' })).toStrictEqual({
      tiny: 25_000_000,
      standard: 100_000_000,
      llm: 500_000_000,
    });
    expect(capacityPricesFromSettings({ tiny: '-5', standard: '12.5', llm: '1e3' })).toStrictEqual({
      tiny: 0,
      standard: 12_500_000,
      llm: 1_000_000_000,
    });
    expect(capacityPricesFromSettings({ tiny: '0.1234567' }).tiny).toBe(25_000_000);
  });
});
