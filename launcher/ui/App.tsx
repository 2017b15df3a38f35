import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Controller, LaunchForm } from '../core/controller';
import type { CpAgent } from '../core/cp-client';
import type { VmView } from '../core/state';
import { ConfirmStop } from './ConfirmStop';
import { Footer, type Binding } from './Footer';
import { LaunchFormView } from './LaunchFormView';
import { LogPane } from './LogPane';
import { PreflightView } from './PreflightView';
import { Spinner } from './Spinner';
import { VmTable, type VmTableProps } from './VmTable';

type Screen =
  | { kind: 'list' }
  | { kind: 'launch'; form: LaunchForm; error: string | null }
  | { kind: 'busy'; label: string }
  | { kind: 'stop'; name: string }
  | { kind: 'logs'; name: string }
  | { kind: 'preflight' };

export interface AppProps {
  controller: Controller;
  initialForm: LaunchForm;
  /** VM list refresh (ms). */
  refreshMs?: number;
  /** Control-plane agent refresh (ms). */
  cpRefreshMs?: number;
}

function useTerminalSize() {
  const { stdout } = useStdout();
  const get = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(get);
  useEffect(() => {
    const onResize = () => setSize(get());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  });
  return size;
}

const BINDINGS: Record<Screen['kind'], Binding[]> = {
  list: [
    { key: '↑↓', label: 'select' },
    { key: 'n', label: 'launch' },
    { key: 's', label: 'stop' },
    { key: 'l', label: 'logs' },
    { key: 'p', label: 'preflight' },
    { key: 'r', label: 'refresh' },
    { key: 'q', label: 'quit' },
  ],
  launch: [
    { key: '↑↓', label: 'field' },
    { key: '←→', label: 'size' },
    { key: 'enter', label: 'launch' },
    { key: 'esc', label: 'cancel' },
  ],
  busy: [],
  stop: [
    { key: 'y', label: 'stop' },
    { key: 'n', label: 'cancel' },
  ],
  logs: [{ key: 'esc', label: 'back' }],
  preflight: [
    { key: 'r', label: 're-run' },
    { key: 'esc', label: 'back' },
  ],
};

/** The launcher's terminal UI: VM table, launch form, stop confirmation, serial log pane, preflight. */
export function App({ controller, initialForm, refreshMs = 1000, cpRefreshMs = 5000 }: AppProps) {
  const { exit } = useApp();
  const { columns, rows } = useTerminalSize();
  const [screen, setScreen] = useState<Screen>({ kind: 'list' });
  const [vms, setVms] = useState<VmView[]>(() => controller.list());
  const [agents, setAgents] = useState<Map<string, CpAgent>>(new Map());
  const [selected, setSelected] = useState(0);
  // Key handlers read the latest list and selection through refs: several keys can arrive before a re-render.
  const sel = useRef(0);
  const vmsRef = useRef(vms);
  vmsRef.current = vms;
  const [message, setMessage] = useState<string | null>(null);
  const [lastForm, setLastForm] = useState(initialForm);

  const refresh = useCallback(() => setVms(controller.list()), [controller]);
  useEffect(() => {
    const t = setInterval(refresh, refreshMs);
    return () => clearInterval(t);
  }, [refresh, refreshMs]);
  useEffect(() => {
    let live = true;
    const poll = () =>
      void controller.cpAgents().then(
        (a) => live && setAgents(a),
        () => undefined,
      );
    poll();
    const t = setInterval(poll, cpRefreshMs);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [controller, cpRefreshMs]);
  useEffect(() => {
    if (sel.current >= vms.length && vms.length > 0) {
      sel.current = vms.length - 1;
      setSelected(sel.current);
    }
  }, [vms.length]);

  /**
   * Screen changes from a key handler wait for the next tick: the new screen's input handler would otherwise be
   * subscribed while ink is still dispatching the same key, and see it too (the `n` that opened the form typed
   * into it, the `q` that closed the log pane quit the app).
   */
  const go = (s: Screen) => setTimeout(() => setScreen(s), 0);
  const select = (i: number) => {
    sel.current = Math.min(Math.max(0, vmsRef.current.length - 1), Math.max(0, i));
    setSelected(sel.current);
  };

  useInput(
    (input, key) => {
      const current = vmsRef.current[sel.current];
      if (input === 'q' || (key.ctrl && input === 'c')) return exit();
      if (key.upArrow || input === 'k') select(sel.current - 1);
      else if (key.downArrow || input === 'j') select(sel.current + 1);
      else if (input === 'n') go({ kind: 'launch', form: lastForm, error: null });
      else if (input === 'p') go({ kind: 'preflight' });
      else if (input === 'r') refresh();
      else if (current && input === 's') {
        if (current.state === 'running') go({ kind: 'stop', name: current.name });
        else setMessage(`${current.name} is not running`);
      } else if (current && (input === 'l' || key.return)) go({ kind: 'logs', name: current.name });
    },
    { isActive: screen.kind === 'list' },
  );

  const launch = (form: LaunchForm) => {
    setLastForm(form);
    setMessage(null);
    setScreen({ kind: 'busy', label: 'resolving image…' });
    controller
      .launch(form, (m) => setScreen({ kind: 'busy', label: m }))
      .then(
        (rec) => {
          refresh();
          setMessage(`launched ${rec.name}`);
          setScreen({ kind: 'list' });
        },
        (err: Error) => setScreen({ kind: 'launch', form, error: err.message }),
      );
  };
  const stop = (name: string) => {
    setScreen({ kind: 'busy', label: `stopping ${name}…` });
    controller.stop(name).then(
      () => {
        refresh();
        setMessage(`stopped ${name}`);
        setScreen({ kind: 'list' });
      },
      (err: Error) => {
        setMessage(`stop failed: ${err.message}`);
        setScreen({ kind: 'list' });
      },
    );
  };
  const back = () => go({ kind: 'list' });
  const readLog = useCallback(
    () => (screen.kind === 'logs' ? controller.logTail(screen.name) : ''),
    [controller, screen],
  );

  const running = vms.filter((v) => v.state === 'running').length;
  return (
    <Box flexDirection="column" width={columns}>
      <Box justifyContent="space-between">
        <Text bold color="magenta">
          easyenclave launcher
        </Text>
        <Text dimColor>
          {running} running / {vms.length} VMs
        </Text>
      </Box>
      <Box flexDirection="column" flexGrow={1} marginY={1}>
        {screen.kind === 'list' && (
          <VmTableWithMessage vms={vms} agents={agents} selected={selected} width={columns} message={message} />
        )}
        {screen.kind === 'launch' && (
          <LaunchFormView initial={screen.form} submitError={screen.error} onSubmit={launch} onCancel={back} />
        )}
        {screen.kind === 'busy' && <Spinner label={screen.label} />}
        {screen.kind === 'stop' && (
          <ConfirmStop name={screen.name} onConfirm={() => stop(screen.name)} onCancel={back} />
        )}
        {screen.kind === 'logs' && (
          <LogPane name={screen.name} read={readLog} height={rows - 6} width={columns} onBack={back} />
        )}
        {screen.kind === 'preflight' && <PreflightView run={controller.preflight} onBack={back} />}
      </Box>
      <Footer bindings={BINDINGS[screen.kind]} />
    </Box>
  );
}

function VmTableWithMessage(props: VmTableProps & { message: string | null }) {
  return (
    <Box flexDirection="column">
      <VmTable {...props} />
      {props.message ? (
        <Box marginTop={1}>
          <Text color="yellow">{props.message}</Text>
        </Box>
      ) : null}
    </Box>
  );
}
