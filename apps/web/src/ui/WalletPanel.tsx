import { useState, type FormEvent } from 'react'
import { formatCoins, parseCoins, type WalletView } from '../wallet'
import { MISSING, shortHex } from './format'
import { Panel } from './Panel'

export interface WalletPanelProps {
  wallet: WalletView
  send(to: string, amount: bigint): Promise<string>
  /** BUY_TICKETS as a miner (the volunteer's page): client tasks select their miners from tickets */
  buyTicket?(amount: bigint, blocks: number): Promise<string>
}

type SendState = { state: 'idle' } | { state: 'sending' } | { state: 'ok'; tx: string } | { state: 'error'; message: string }

/** Parses the amount a form holds (a clear error if it is not one), then signs and sends with it. */
function submitAmount(text: string, setResult: (s: SendState) => void, act: (units: bigint) => Promise<string>): void {
  let units: bigint
  try {
    units = parseCoins(text)
  } catch (err) {
    setResult({ state: 'error', message: (err as Error).message })
    return
  }
  setResult({ state: 'sending' })
  act(units).then(
    (tx) => setResult({ state: 'ok', tx }),
    (err: Error) => setResult({ state: 'error', message: err.message }),
  )
}

/**
 * The tab's wallet: the key its block rewards pay, what it holds (a block reward is spendable
 * once it is `coinbaseMaturity` blocks deep), and a form to pay another key.
 */
export function WalletPanel({ wallet, send, buyTicket }: WalletPanelProps) {
  const [to, setTo] = useState('')
  const [amount, setAmount] = useState('')
  const [result, setResult] = useState<SendState>({ state: 'idle' })
  const b = wallet.balance
  const coins = (v: bigint | undefined): string => (v === undefined ? MISSING : formatCoins(v))

  const onSubmit = (e: FormEvent): void => {
    e.preventDefault()
    submitAmount(amount, setResult, (units) => send(to.trim().toLowerCase(), units))
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
      {buyTicket ? <Tickets wallet={wallet} buyTicket={buyTicket} /> : null}
      {wallet.error ? <p className="muted" role="status">{wallet.error}</p> : null}
    </Panel>
  )
}

/**
 * The wallet's miner tickets, and a form to buy one: a stake locked until its expiry, from which
 * client tasks select their miners (paper 003 §3.3, §4.1). A ticket this tab holds applies to every
 * client task that opens while it is live (see taskMiner.ts).
 */
function Tickets({ wallet, buyTicket }: { wallet: WalletView; buyTicket(amount: bigint, blocks: number): Promise<string> }) {
  const [amount, setAmount] = useState('0.1')
  const [blocks, setBlocks] = useState('1000')
  const [result, setResult] = useState<SendState>({ state: 'idle' })
  const height = wallet.height ?? 0

  const onBuy = (e: FormEvent): void => {
    e.preventDefault()
    submitAmount(amount, setResult, (units) => buyTicket(units, Number(blocks)))
  }

  return (
    <div className="tickets">
      <h3 className="subhead">Miner tickets</h3>
      {wallet.tickets.length === 0 ? <p className="muted" data-testid="tickets-none">none: buy one to be selected for client tasks</p> : (
        <ul className="ticket-list" data-testid="tickets">
          {wallet.tickets.map((t) => (
            <li key={t.outpoint} className="mono" data-testid="ticket" data-outpoint={t.outpoint} data-live={String(t.expiry > height)} data-joined={t.joined ?? ''}>
              {formatCoins(t.amount)} staked at height {t.height}, {t.joined !== null ? `joined task ${shortHex(t.joined, 8)}: back with its charge, or at height ${t.expiry}`
                : t.expiry > height ? `until height ${t.expiry}` : 'expired: the stake is spendable again'}
            </li>
          ))}
        </ul>
      )}
      <form className="send-form" onSubmit={onBuy}>
        <input className="mono" placeholder="stake" value={amount} onChange={(e) => setAmount(e.target.value)} data-testid="ticket-amount" inputMode="decimal" title="coins to stake" />
        <input className="mono" placeholder="blocks" value={blocks} onChange={(e) => setBlocks(e.target.value)} data-testid="ticket-blocks" inputMode="numeric" title="blocks the ticket stays valid" />
        <button type="submit" className="button button-start" disabled={result.state === 'sending' || wallet.key === null} data-testid="ticket-buy">Buy a miner ticket</button>
      </form>
      <p className="muted send-result" data-testid="ticket-result" data-state={result.state} title={result.state === 'ok' ? result.tx : undefined}>
        {result.state === 'ok' ? `ticket bought: transaction ${shortHex(result.tx, 8)}, waiting for a block`
          : result.state === 'error' ? result.message : result.state === 'sending' ? 'signing and sending…' : ''}
      </p>
    </div>
  )
}
