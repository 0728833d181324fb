import { useEffect, useState } from 'react'
import { getJson } from '../../api'
import { formatCoins, type WalletHandle } from '../../wallet'
import { shortHex } from '../format'
import { Panel } from '../Panel'
import { rememberedTasks, takeFeeBack, type TaskListing } from './clientTasks'

const POLL_MS = 3000

/**
 * The tasks this profile paid for, after a reload too: each fee's state, the model once the task is
 * charged, and the way back for the fee while it is revocable, or once no charge came by its
 * reclaim height. Remembered in localStorage (clientTasks.ts); the relay's listing also names the
 * client of a fee that is not spent yet.
 */
export function MyTasks({ wallet }: { wallet: WalletHandle }) {
  const [listings, setListings] = useState<TaskListing[] | null>(null)
  const [note, setNote] = useState<string | null>(null)
  const me = wallet.view.key

  useEffect(() => {
    const tick = (): void => {
      getJson<TaskListing[]>('/api/tasks').then((all) => {
        const mine = rememberedTasks()
        const order = (t: TaskListing): number => { const i = mine.indexOf(t.task); return i === -1 ? mine.length : i }
        setListings(all.filter((t) => mine.includes(t.task) || (me !== null && t.fee.client === me)).sort((a, b) => order(a) - order(b)))
      }, () => {})
    }
    tick()
    const timer = setInterval(tick, POLL_MS)
    return () => clearInterval(timer)
  }, [me])

  if (listings === null || listings.length === 0) return null
  const takeBack = (t: TaskListing): void => {
    setNote(null)
    void takeFeeBack(wallet, t).then((refused) => { if (refused !== null) setNote(refused) })
  }
  return (
    <Panel title="Your tasks" className="panel-my-tasks">
      <ul className="my-tasks">
        {listings.map((t) => (
          <li key={t.task} data-testid="my-task" data-task={t.task} data-state={t.fee.state}>
            <code className="mono">{shortHex(t.task, 8)}</code> {t.records} records, layers {t.layers.join('-')}:{' '}
            <span className="badge">{t.fee.state}</span> {formatCoins(BigInt(t.fee.amount))} coins
            {t.fee.state === 'committed' && t.fee.reclaimFrom !== null ? `, yours again from height ${t.fee.reclaimFrom} if no charge spends it` : ''}
            {t.fee.state === 'charged' ? (
              <> · <a href={`/data/tasks/${t.task}/model.json`} download="model.json" data-testid="my-task-model">model.json</a></>
            ) : null}
            {t.fee.state === 'revocable' || t.fee.state === 'reclaimable' ? (
              <button type="button" className="button button-stop" onClick={() => takeBack(t)} data-testid="my-task-take-back">
                {t.fee.state === 'revocable' ? 'Revoke and take the fee back' : 'No charge came: take the fee back'}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {note !== null ? <div className="banner banner-error" role="alert">{note}</div> : null}
    </Panel>
  )
}
