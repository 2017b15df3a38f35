/** Accounts and the ledger: balances, a 30-day chart of charges and earnings, one account's transactions, credit. */
import { useState } from 'preact/hooks';
import { api, seg } from '../api';
import { LedgerChart, type DayTotals } from '../chart';
import { Action, Badge, Field, Show, Table, useLoad } from '../components';
import { usd, when } from '../format';

interface Account {
  account_id: string;
  name: string;
  account_type: string;
  github_login: string | null;
  github_org: string | null;
  balance: number;
  created_at: string;
}
interface Transaction {
  transaction_id: string;
  amount: number;
  balance_after: number;
  tx_type: string;
  description: string;
  reference_id: string | null;
  created_at: string;
}

export function AccountsPage() {
  const accounts = useLoad(() => api.get<{ accounts: Account[] }>('/api/v1/accounts'));
  const daily = useLoad(() => api.get<{ days: DayTotals[] }>('/api/v1/admin/ledger/daily?days=30'));
  return (
    <section>
      <h1>Accounts and ledger</h1>
      <Show loaded={daily}>{({ days }) => <LedgerChart days={days} />}</Show>
      <Show loaded={accounts}>
        {({ accounts: list }) => (
          <Table head={['Account', 'Type', 'GitHub', 'Balance', 'Created']} empty="No accounts.">
            {list.map((a) => (
              <tr key={a.account_id} data-account={a.account_id}>
                <td>
                  <a href={`#/accounts/${a.account_id}`}>{a.name}</a>
                </td>
                <td>
                  <Badge value={a.account_type} />
                </td>
                <td>{a.github_login ?? a.github_org ?? '—'}</td>
                <td class="balance">{usd(a.balance)}</td>
                <td>{when(a.created_at)}</td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
    </section>
  );
}

export function AccountPage({ accountId }: { accountId: string }) {
  const accounts = useLoad(() => api.get<{ accounts: Account[] }>('/api/v1/accounts'), [accountId]);
  const txs = useLoad(
    () =>
      api.get<{ transactions: Transaction[]; total: number }>(
        `/api/v1/admin/accounts/${seg(accountId)}/transactions?limit=200`,
      ),
    [accountId],
  );
  const [amount, setAmount] = useState('');
  const [note, setNote] = useState('');
  const refresh = () => {
    accounts.reload();
    txs.reload();
  };
  const account = accounts.data?.accounts.find((a) => a.account_id === accountId);
  return (
    <section>
      <p>
        <a href="#/accounts">← Accounts</a>
      </p>
      <h1>Account {account?.name ?? accountId}</h1>
      {account && (
        <p>
          Balance <strong class="balance">{usd(account.balance)}</strong> · <Badge value={account.account_type} />
        </p>
      )}
      <form class="inline" onSubmit={(e) => e.preventDefault()}>
        <Field label="Credit (USD)" name="amount" value={amount} set={setAmount} placeholder="10.00" />
        <Field label="Description" name="description" value={note} set={setNote} placeholder="Manual credit" />
        <Action
          label="Credit account"
          name="deposit"
          run={() =>
            api.post<Transaction>(`/api/v1/accounts/${seg(accountId)}/deposit`, {
              amount: Number(amount),
              description: note,
            })
          }
          describe={(t) => `Credited ${usd(t.amount)}; balance ${usd(t.balance_after)}`}
          done={refresh}
        />
      </form>
      <h2>Transactions</h2>
      <Show loaded={txs}>
        {({ transactions, total }) => (
          <>
            <p class="muted">{total} entries</p>
            <Table head={['When', 'Type', 'Amount', 'Balance after', 'Description', 'Reference']} empty="No entries.">
              {transactions.map((t) => (
                <tr key={t.transaction_id}>
                  <td>{when(t.created_at)}</td>
                  <td>
                    <Badge value={t.tx_type} />
                  </td>
                  <td class={t.amount < 0 ? 'debit' : 'credit'}>{usd(t.amount)}</td>
                  <td>{usd(t.balance_after)}</td>
                  <td>{t.description}</td>
                  <td class="mono">{t.reference_id ?? '—'}</td>
                </tr>
              ))}
            </Table>
          </>
        )}
      </Show>
    </section>
  );
}
