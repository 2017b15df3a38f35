/** Settings by group: effective value (secrets masked by the API), source, edit (checked by the API) and reset. */
import { useState } from 'preact/hooks';
import { api, seg } from '../api';
import { Action, Badge, Show, useLoad } from '../components';

interface Setting {
  key: string;
  value: string;
  source: 'db' | 'env' | 'default';
  is_secret: boolean;
  description: string;
  group: string;
  env_var: string;
  default: string;
}

function SettingRow({ s, done }: { s: Setting; done: () => void }) {
  // A secret's field starts empty: the masked value is not something to send back.
  const [value, setValue] = useState(s.is_secret ? '' : s.value);
  return (
    <tr data-setting={s.key}>
      <td>
        <code>{s.key}</code>
        <div class="muted">{s.description}</div>
        <div class="muted">
          env {s.env_var} · default <code>{s.default === '' ? '""' : s.default}</code>
        </div>
      </td>
      <td class="value mono">{s.is_secret ? (s.value === '' ? '—' : s.value) : s.value || '—'}</td>
      <td>
        <Badge value={s.source} />
        {s.is_secret && <Badge value="secret" />}
      </td>
      <td>
        <form class="inline" onSubmit={(e) => e.preventDefault()}>
          <input
            name="value"
            aria-label={`New value for ${s.key}`}
            type={s.is_secret ? 'password' : 'text'}
            autocomplete="off"
            value={value}
            placeholder={s.is_secret ? 'new secret value' : ''}
            onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)}
          />
          <Action
            label="Save"
            name="save"
            run={() => api.put<{ status: string }>(`/api/v1/admin/settings/${seg(s.key)}`, { value })}
            describe={() => 'Saved'}
            done={done}
          />
          {s.source === 'db' && (
            <Action
              label="Reset"
              name="reset"
              run={() => api.del<{ status: string }>(`/api/v1/admin/settings/${seg(s.key)}`)}
              describe={() => 'Reset to env/default'}
              done={done}
            />
          )}
        </form>
      </td>
    </tr>
  );
}

export function SettingsPage() {
  const settings = useLoad(() => api.get<{ settings: Setting[] }>('/api/v1/admin/settings'));
  return (
    <section>
      <h1>Settings</h1>
      <p class="note">Database values win over the environment, which wins over the default.</p>
      <Show loaded={settings}>
        {({ settings: list }) => {
          const groups = [...new Set(list.map((s) => s.group))];
          return (
            <>
              {groups.map((g) => (
                <details class="group" key={g} open data-group={g}>
                  <summary>{g}</summary>
                  <table>
                    <tbody>
                      {list
                        .filter((s) => s.group === g)
                        .map((s) => (
                          <SettingRow key={`${s.key}:${s.source}:${s.value}`} s={s} done={settings.reload} />
                        ))}
                    </tbody>
                  </table>
                </details>
              ))}
            </>
          );
        }}
      </Show>
    </section>
  );
}
