/** Small shared pieces: data loading, actions with their result or the API's detail, tables, links. */
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api';
import { workflowUrl, type TemporalUi } from './links';

export interface Session {
  is_admin: boolean;
  auth_method: string;
  github_login: string | null;
}

export const UiContext = createContext<{ session: Session; temporal: TemporalUi | null } | null>(null);

export function useUi() {
  const ui = useContext(UiContext);
  if (!ui) throw new Error('useUi outside a signed-in page');
  return ui;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

/** Runs `load` on mount and whenever `key` changes or reload() is called; keeps the API's detail on failure. */
export function useLoad<T>(load: () => Promise<T>, key: unknown[] = []): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null }>({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data, error: null }),
      (err: unknown) => live && setState({ data: null, error: errorText(err) }),
    );
    return () => {
      live = false;
    };
  }, [tick, ...key]);
  return { ...state, reload: useCallback(() => setTick((t) => t + 1), []) };
}

export const errorText = (err: unknown) =>
  err instanceof ApiError ? err.detail : err instanceof Error ? err.message : String(err);

export function ErrorBox({ error }: { error: string | null }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Show<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (loaded.error) return <ErrorBox error={loaded.error} />;
  if (loaded.data === null) return <p class="loading">Loading…</p>;
  return <>{children(loaded.data)}</>;
}

/**
 * A button that runs one API call and then shows what came back: `describe(result)` on success, the API's detail on
 * failure. `done` runs after a success (e.g. reload the list).
 */
export function Action<T>(props: {
  label: string;
  run: () => Promise<T>;
  describe?: (result: T) => string;
  done?: (result: T) => void;
  danger?: boolean;
  disabled?: boolean;
  name?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const click = async () => {
    setBusy(true);
    setOutcome(null);
    try {
      const result = await props.run();
      setOutcome({ ok: true, text: props.describe ? props.describe(result) : 'Done' });
      props.done?.(result);
    } catch (err) {
      setOutcome({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button
        type="button"
        name={props.name}
        class={props.danger ? 'danger' : undefined}
        disabled={busy || props.disabled}
        onClick={() => void click()}
      >
        {props.label}
      </button>
      {outcome &&
        (outcome.ok ? (
          <span class="result" role="status">
            {outcome.text}
          </span>
        ) : (
          <span class="error" role="alert">
            {outcome.text}
          </span>
        ))}
    </span>
  );
}

export function WorkflowLink({ id }: { id: string }) {
  const { temporal } = useUi();
  const href = workflowUrl(temporal, id);
  if (!href) return null;
  return (
    <a class="workflow" href={href} target="_blank" rel="noopener noreferrer" title={id}>
      workflow
    </a>
  );
}

export function Table({ head, children, empty }: { head: string[]; children: ComponentChildren[]; empty: string }) {
  if (children.length === 0) return <p class="empty">{empty}</p>;
  return (
    <table>
      <thead>
        <tr>
          {head.map((h) => (
            <th key={h}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

export const Badge = ({ value }: { value: string | boolean | null | undefined }) => {
  const text = value === true ? 'yes' : value === false ? 'no' : (value ?? '—');
  return <span class={`badge badge-${String(text).replace(/[^a-z0-9_-]/gi, '')}`}>{text}</span>;
};

/** Text field bound to a state setter (no uncontrolled DOM reads). */
export function Field(props: {
  label: string;
  name: string;
  value: string;
  set: (v: string) => void;
  placeholder?: string;
  type?: string;
}) {
  return (
    <label>
      {props.label}
      <input
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value}
        placeholder={props.placeholder}
        onInput={(e) => props.set((e.currentTarget as HTMLInputElement).value)}
      />
    </label>
  );
}
