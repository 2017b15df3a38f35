/** Trusted MRTDs: the effective list (environment + database) and the database entries an admin adds or removes. */
import { useState } from 'preact/hooks';
import { api, seg } from '../api';
import { Action, Badge, Field, Show, Table, useLoad } from '../components';
import { when } from '../format';

interface Stored {
  mrtd: string;
  type: string;
  note: string;
  added_at: string;
}

export function MrtdsPage() {
  const stored = useLoad(() => api.get<{ trusted_mrtds: Stored[] }>('/api/v1/admin/trusted-mrtds'));
  const effective = useLoad(() =>
    api.get<{ trusted_mrtds: { mrtd: string; type: string }[] }>('/api/v1/trusted-mrtds'),
  );
  const [mrtd, setMrtd] = useState('');
  const [type, setType] = useState('agent');
  const [note, setNote] = useState('');
  const refresh = () => {
    stored.reload();
    effective.reload();
  };
  const fromDb = new Set(stored.data?.trusted_mrtds.map((m) => m.mrtd) ?? []);
  return (
    <section>
      <h1>Trusted MRTDs</h1>
      <form class="inline" onSubmit={(e) => e.preventDefault()}>
        <Field label="MRTD (96 hex)" name="mrtd" value={mrtd} set={setMrtd} />
        <label>
          Type
          <select name="type" value={type} onChange={(e) => setType((e.currentTarget as HTMLSelectElement).value)}>
            <option value="agent">agent</option>
            <option value="proxy">proxy</option>
          </select>
        </label>
        <Field label="Note" name="note" value={note} set={setNote} />
        <Action
          label="Trust MRTD"
          name="add-mrtd"
          run={() => api.post<{ mrtd: string }>('/api/v1/admin/trusted-mrtds', { mrtd: mrtd.trim(), type, note })}
          describe={(r) => `Trusted ${r.mrtd.slice(0, 16)}…`}
          done={refresh}
        />
      </form>
      <Show loaded={stored}>
        {({ trusted_mrtds }) => (
          <Table head={['MRTD', 'Type', 'Note', 'Added', '']} empty="No MRTDs stored in the database.">
            {trusted_mrtds.map((m) => (
              <tr key={m.mrtd} data-mrtd={m.mrtd}>
                <td class="mono">{m.mrtd}</td>
                <td>
                  <Badge value={m.type} />
                </td>
                <td>{m.note}</td>
                <td>{when(m.added_at)}</td>
                <td>
                  <Action
                    label="Remove"
                    name="remove-mrtd"
                    danger
                    run={() => api.del(`/api/v1/admin/trusted-mrtds/${seg(m.mrtd)}`)}
                    done={refresh}
                  />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
      <h2>From the environment</h2>
      <Show loaded={effective}>
        {({ trusted_mrtds }) => (
          <Table head={['MRTD', 'Type']} empty="None.">
            {trusted_mrtds
              .filter((m) => !fromDb.has(m.mrtd))
              .map((m) => (
                <tr key={m.mrtd}>
                  <td class="mono">{m.mrtd}</td>
                  <td>
                    <Badge value={m.type} />
                  </td>
                </tr>
              ))}
          </Table>
        )}
      </Show>
    </section>
  );
}
