import { Box, Text, useInput } from 'ink';

/** y stops, n/Esc goes back. */
export function ConfirmStop({
  name,
  onConfirm,
  onCancel,
}: {
  name: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  useInput((input, key) => {
    if (input === 'y' || input === 'Y') onConfirm();
    else if (input === 'n' || input === 'N' || key.escape) onCancel();
  });
  return (
    <Box borderStyle="round" borderColor="yellow" paddingX={1} flexDirection="column">
      <Text>
        Stop <Text bold>{name}</Text>? QEMU gets SIGTERM, then SIGKILL after 10 s.
      </Text>
      <Text>
        <Text bold color="cyan">
          y
        </Text>{' '}
        stop{' '}
        <Text bold color="cyan">
          n
        </Text>{' '}
        cancel
      </Text>
    </Box>
  );
}
