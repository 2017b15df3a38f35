import { Box, Text } from 'ink';

export interface Binding {
  key: string;
  label: string;
}

/** The key bindings of the current screen, wrapped to the terminal width. */
export function Footer({ bindings }: { bindings: Binding[] }) {
  return (
    <Box flexWrap="wrap" columnGap={2}>
      {bindings.map((b) => (
        <Text key={b.key}>
          <Text bold color="cyan">
            {b.key}
          </Text>{' '}
          <Text dimColor>{b.label}</Text>
        </Text>
      ))}
    </Box>
  );
}
