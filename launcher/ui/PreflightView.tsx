import { Box, Text, useInput } from 'ink';
import { useCallback, useEffect, useState } from 'react';
import type { Check } from '../core/preflight';
import { Spinner } from './Spinner';

const MARK = { ok: ['✓', 'green'], warn: ['!', 'yellow'], fail: ['✗', 'red'] } as const;

/** Host checks (KVM, TDX, QGS, QEMU, firmware, disk) with a remedy under each failure; r re-runs. */
export function PreflightView({ run, onBack }: { run: () => Promise<Check[]>; onBack: () => void }) {
  const [checks, setChecks] = useState<Check[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const start = useCallback(() => {
    setChecks(null);
    run().then(setChecks, (e: Error) => setError(e.message));
  }, [run]);
  useEffect(start, [start]);
  useInput((input, key) => {
    if (key.escape || input === 'q') onBack();
    else if (input === 'r') start();
  });
  if (error) return <Text color="red">preflight failed: {error}</Text>;
  if (!checks) return <Spinner label="checking this host…" />;
  return (
    <Box flexDirection="column">
      <Text bold>Preflight</Text>
      {checks.map((c) => (
        <Box key={c.id} flexDirection="column">
          <Text>
            <Text color={MARK[c.status][1]}>{MARK[c.status][0]}</Text> {c.title}: <Text dimColor>{c.detail}</Text>
          </Text>
          {c.remedy ? <Text color="yellow"> → {c.remedy}</Text> : null}
        </Box>
      ))}
    </Box>
  );
}
