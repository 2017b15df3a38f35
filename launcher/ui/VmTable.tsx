import { Box, Text } from 'ink';
import type { CpAgent } from '../core/cp-client';
import { formatMemory } from '../core/presets';
import { formatUptime, type VmView } from '../core/state';

export interface VmTableProps {
  vms: VmView[];
  agents: Map<string, CpAgent>;
  selected: number;
  width: number;
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

const stateColor = { running: 'green', stopped: 'gray', exited: 'red' } as const;

function agentText(vm: VmView, agents: Map<string, CpAgent>): string {
  const a = agents.get(vm.name);
  if (!a) {
    if (!vm.cp_url) return '-';
    // Waiting for registration is the long step after boot: a spinner frame per refresh shows it is live.
    return vm.state === 'running'
      ? `${SPIN[Math.floor(Date.now() / 250) % SPIN.length]} registering…`
      : 'not registered';
  }
  return [a.status, a.verified ? '✓' : 'unverified', a.health_status].filter(Boolean).join(' ');
}

const clip = (s: string, n: number) => (s.length <= n ? s.padEnd(n) : s.slice(0, Math.max(1, n - 1)) + '…');

/**
 * The live VM list: name, state, size, uptime, address, agent registration/health (✓ = verified). Below 100
 * columns the address column goes, so 80×24 keeps every other column readable.
 */
export function VmTable({ vms, agents, selected, width }: VmTableProps) {
  const wide = width >= 100;
  const fixed = { state: 8, size: 15, up: 7, addr: wide ? 16 : 0 };
  const gaps = wide ? 5 : 4;
  const rest = Math.max(20, width - 2 - fixed.state - fixed.size - fixed.up - fixed.addr - gaps);
  const nameW = Math.min(21, Math.max(10, Math.floor(rest * 0.5)));
  const agentW = Math.max(8, rest - nameW);
  const row = (c: string[]) => {
    const cells = [clip(c[0]!, nameW), clip(c[1]!, fixed.state), clip(c[2]!, fixed.size), clip(c[3]!, fixed.up)];
    if (wide) cells.push(clip(c[4]!, fixed.addr));
    cells.push(clip(c[5]!, agentW));
    return cells;
  };
  if (vms.length === 0) {
    return (
      <Box paddingX={1}>
        <Text dimColor>No VMs yet. Press n to launch one.</Text>
      </Box>
    );
  }
  return (
    <Box flexDirection="column">
      <Text bold>{'  ' + row(['NAME', 'STATE', 'SIZE', 'UPTIME', 'ADDRESS', 'AGENT']).join(' ')}</Text>
      {vms.map((vm, i) => {
        const cells = row([
          vm.name,
          vm.state,
          `${vm.node_size} ${formatMemory(vm.memory_mib)}/${vm.vcpus}`,
          formatUptime(vm.uptime_s),
          vm.agent_port && vm.state === 'running' ? `127.0.0.1:${vm.agent_port}` : '-',
          agentText(vm, agents),
        ]);
        return (
          <Text key={vm.name} inverse={i === selected}>
            {i === selected ? '› ' : '  '}
            {cells[0]} <Text color={stateColor[vm.state]}>{cells[1]}</Text> {cells.slice(2).join(' ')}
          </Text>
        );
      })}
    </Box>
  );
}
