import { useState, type FormEvent } from 'react'
import { formatCoins, parseCoins, type WalletView } from '../wallet'
import { MISSING, shortHex } from './format'
import { Panel } from './Panel'

export interface WalletPanelProps {
  wallet: WalletView
  send(to: string, amount: bigint): Promise<string>
}

type SendState = { state: 'idle' } | { state: 'sending' } | { state: 'ok'; tx: string } | { state: 'error'; message: string }

/**
 * The tab's wallet: the key its block rewards pay, what it holds (a block reward is spendable
 * once it is `coinbaseMaturity` blocks deep), and a form to pay another key.
 */
export function WalletPanel({ wallet, send }: WalletPanelProps) {
  const [to, setTo] = useState('')
  const [amount, setAmount] = useState('')
  const [result, setResult] = useState<SendState>({ state: 'idle' })
  const b = wallet.balance
  const coins = (v: bigint | undefined): string => (v === undefined ? MISSING : formatCoins(v))

  const onSubmit = (e: FormEvent): void => {
    e.preventDefault()
    let units: bigint
    try {
      units = parseCoins(amount)
    } catch (err) {
      setResult({ state: 'error', message: (err as Error).message })
      return
    }
    setResult({ state: 'sending' })
    send(to.trim().toLowerCase(), units).then(
      (tx) => setResult({ state: 'ok', tx }),
      (err: Error) => setResult({ state: 'error', message: err.message }),
    )
  }

  return (
    <Panel title="Wallet" className="panel-wallet">
      <dl className="facts">
        <dt>Address</dt>
        <dd className="mono truncate" title={wallet.key ?? undefined} data-testid="wallet-address" data-persisted={String(wallet.persisted)}>
          {wallet.key ?? MISSING}
        </dd>
        <dt>Spendable</dt>
        <dd className="mono" data-testid="wallet-spendable" data-value={b?.spendable.toString()}>{coins(b?.spendable)}</dd>
        <dt>Maturing</dt>
        <dd className="mono" data-testid="wallet-immature" data-value={b?.immature.toString()}>{coins(b?.immature)}</dd>
        <dt>Locked</dt>
        <dd className="mono" data-testid="wallet-locked" data-value={b?.locked.toString()} title="stakes, task fees, and coins a waiting transfer spends">{coins(b?.locked)}</dd>
      </dl>
      <form className="send-form" onSubmit={onSubmit}>
        <input className="mono" placeholder="recipient public key (hex)" value={to} onChange={(e) => setTo(e.target.value)} data-testid="send-to" spellCheck={false} />
        <input className="mono" placeholder="amount" value={amount} onChange={(e) => setAmount(e.target.value)} data-testid="send-amount" inputMode="decimal" />
        <button type="submit" className="button button-start" disabled={result.state === 'sending' || wallet.key === null} data-testid="send-submit">Send</button>
      </form>
      <p className="muted send-result" data-testid="send-result" data-state={result.state} title={result.state === 'ok' ? result.tx : undefined}>
        {result.state === 'ok' ? `sent: transaction ${shortHex(result.tx, 8)}, waiting for a block`
          : result.state === 'error' ? result.message : result.state === 'sending' ? 'signing and sending…' : ''}
      </p>
      {wallet.error ? <p className="muted" role="status">{wallet.error}</p> : null}
    </Panel>
  )
}
