import { Box, Text, useInput } from 'ink';
import { useEffect, useState } from 'react';

export interface LogPaneProps {
  name: string;
  read: () => string;
  height: number;
  width: number;
  onBack: () => void;
  /** Poll interval of the tail (ms). */
  intervalMs?: number;
}

/** Tails the serial console: the last lines that fit, refreshed while open. */
export function LogPane({ name, read, height, width, onBack, intervalMs = 500 }: LogPaneProps) {
  const [text, setText] = useState(read);
  useEffect(() => {
    const t = setInterval(() => setText(read()), intervalMs);
    return () => clearInterval(t);
  }, [read, intervalMs]);
  useInput((input, key) => {
    if (key.escape || input === 'q') onBack();
  });
  const lines = text
    .replace(/\r/g, '')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split('\n')
    .filter((l, i, a) => i < a.length - 1 || l !== '')
    .map((l) => (l.length > width ? l.slice(0, width - 1) + '…' : l));
  const shown = lines.slice(-Math.max(1, height));
  return (
    <Box flexDirection="column">
      <Text bold>
        serial console of {name} <Text dimColor>({lines.length} lines)</Text>
      </Text>
      {shown.length ? shown.map((l, i) => <Text key={i}>{l || ' '}</Text>) : <Text dimColor>(no output yet)</Text>}
    </Box>
  );
}
