import { Box, Text, useInput, type Key } from 'ink';
import { useEffect, useReducer } from 'react';
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
interface FormState {
  form: LaunchForm;
  focus: number;
  errors: FormErrors;
  /** Set when Enter found no errors: the form to launch. */
  submitted: LaunchForm | null;
}

/** One key press → the next form state; a reducer so fast typing never reads a stale form. */
export function formReducer(st: FormState, ev: { input: string; key: Key }): FormState {
  const { input, key } = ev;
  const { form } = st;
  const field = FIELDS[st.focus]!.key;
  if (key.return) {
    const errors = validateLaunchForm(form);
    return { ...st, errors, submitted: Object.keys(errors).length === 0 ? form : null };
  }
  if (key.upArrow || (key.shift && key.tab)) return { ...st, focus: (st.focus + FIELDS.length - 1) % FIELDS.length };
  if (key.downArrow || key.tab || input === '\t') return { ...st, focus: (st.focus + 1) % FIELDS.length };
  if (field === 'size') {
    const i = NODE_SIZES.indexOf(form.size);
    const step = key.leftArrow ? -1 : key.rightArrow || input === ' ' ? 1 : 0;
    return step
      ? { ...st, form: { ...form, size: NODE_SIZES[(i + step + NODE_SIZES.length) % NODE_SIZES.length]! } }
      : st;
  }
  if (field === 'tdx') {
    return input === ' ' || key.leftArrow || key.rightArrow ? { ...st, form: { ...form, tdx: !form.tdx } } : st;
  }
  const value = form[field] as string;
  if (key.backspace || key.delete) return { ...st, form: { ...form, [field]: value.slice(0, -1) } };
  // printable characters only (a pasted newline or tab never lands in a field)
  if (input && !key.ctrl && !key.meta && !key.escape && !/[\x00-\x1f\x7f]/.test(input))
    return { ...st, form: { ...form, [field]: value + input } };
  return st;
}

/** Launch form with presets and validation; Enter submits, Esc cancels. */
export function LaunchFormView({ initial, submitError, onSubmit, onCancel }: LaunchFormProps) {
  const [st, dispatch] = useReducer(formReducer, { form: initial, focus: 0, errors: {}, submitted: null });
  const { form, focus, errors } = st;
  useEffect(() => {
    if (st.submitted) onSubmit(st.submitted);
  }, [st.submitted, onSubmit]);
  useInput((input, key) => {
    if (key.escape) onCancel();
    else dispatch({ input, key });
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
