import { Box, Text, useInput } from 'ink';
import { useState } from 'react';
import { validateLaunchForm, type FormErrors, type LaunchForm } from '../core/controller';
import { NODE_SIZES, presets } from '../core/presets';

type Field = keyof LaunchForm;
const FIELDS: { key: Field; label: string; hint: string }[] = [
  { key: 'image', label: 'Image', hint: 'directory or OCI ref' },
  { key: 'size', label: 'Size', hint: '←/→ to change' },
  { key: 'memory', label: 'Memory', hint: 'override, e.g. 512M' },
  { key: 'cpUrl', label: 'CP URL', hint: 'http(s)://…' },
  { key: 'datacenter', label: 'Datacenter', hint: 'provider:location' },
  { key: 'owner', label: 'Owner', hint: 'github:org/name' },
  { key: 'tdx', label: 'TDX', hint: 'space to toggle' },
];

export interface LaunchFormProps {
  initial: LaunchForm;
  /** Error from the last launch attempt (image missing, QEMU failed…). */
  submitError?: string | null;
  onSubmit: (form: LaunchForm) => void;
  onCancel: () => void;
}

/** Launch form with presets and validation; Enter submits, Esc cancels. */
export function LaunchFormView({ initial, submitError, onSubmit, onCancel }: LaunchFormProps) {
  const [form, setForm] = useState<LaunchForm>(initial);
  const [focus, setFocus] = useState(0);
  const [errors, setErrors] = useState<FormErrors>({});
  const field = FIELDS[focus]!.key;

  useInput((input, key) => {
    if (key.escape) return onCancel();
    if (key.return) {
      const e = validateLaunchForm(form);
      setErrors(e);
      if (Object.keys(e).length === 0) onSubmit(form);
      return;
    }
    if (key.upArrow || (key.shift && key.tab)) return setFocus((f) => (f + FIELDS.length - 1) % FIELDS.length);
    if (key.downArrow || key.tab) return setFocus((f) => (f + 1) % FIELDS.length);
    if (field === 'size') {
      const i = NODE_SIZES.indexOf(form.size);
      if (key.leftArrow) setForm({ ...form, size: NODE_SIZES[(i + NODE_SIZES.length - 1) % NODE_SIZES.length]! });
      if (key.rightArrow || input === ' ') setForm({ ...form, size: NODE_SIZES[(i + 1) % NODE_SIZES.length]! });
      return;
    }
    if (field === 'tdx') {
      if (input === ' ' || key.leftArrow || key.rightArrow) setForm({ ...form, tdx: !form.tdx });
      return;
    }
    const value = form[field] as string;
    if (key.backspace || key.delete) setForm({ ...form, [field]: value.slice(0, -1) });
    else if (input && !key.ctrl && !key.meta) setForm({ ...form, [field]: value + input });
  });

  const p = presets()[form.size];
  return (
    <Box flexDirection="column">
      <Text bold>Launch a VM</Text>
      {FIELDS.map((f, i) => {
        const v =
          f.key === 'tdx'
            ? form.tdx
              ? 'on'
              : 'off (plain guest)'
            : f.key === 'size'
              ? `‹ ${form.size} ›`
              : (form[f.key] as string);
        const err = errors[f.key];
        return (
          <Box key={f.key}>
            <Text color={i === focus ? 'cyan' : undefined}>{(i === focus ? '› ' : '  ') + f.label.padEnd(11)}</Text>
            <Text inverse={i === focus && f.key !== 'size' && f.key !== 'tdx'}>{v || ' '}</Text>
            {err ? <Text color="red"> ✗ {err}</Text> : <Text dimColor> {i === focus ? f.hint : ''}</Text>}
          </Box>
        );
      })}
      <Text dimColor>
        preset {form.size}: {p.memoryMiB / 1024} GiB, {p.vcpus} vCPU{p.diskGiB ? `, ${p.diskGiB} GiB data disk` : ''}
      </Text>
      {submitError ? <Text color="red">launch failed: {submitError}</Text> : null}
    </Box>
  );
}
