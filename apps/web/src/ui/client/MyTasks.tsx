import { useEffect, useState } from 'react'
import { getJson, type TaskRunJson } from '../../api'
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
  /** a charged task's best model (its model.json), or null when the charge named none: asked once per task */
  const [models, setModels] = useState<Record<string, string | null>>({})
  /** the fee state each task was in when its take-back was sent: its button waits for the state to change */
  const [sent, setSent] = useState<Record<string, string>>({})
  const [note, setNote] = useState<string | null>(null)
  const me = wallet.view.key

  useEffect(() => {
    let stopped = false
    const tick = (): void => {
      getJson<TaskListing[]>('/api/tasks').then((all) => {
        if (stopped) return
        const mine = rememberedTasks()
        const order = (t: TaskListing): number => { const i = mine.indexOf(t.task); return i === -1 ? mine.length : i }
        setListings(all.filter((t) => mine.includes(t.task) || (me !== null && t.fee.client === me)).sort((a, b) => order(a) - order(b)))
      }, () => {})
    }
    tick()
    const timer = setInterval(tick, POLL_MS)
    return () => { stopped = true; clearInterval(timer) }
  }, [me])

  const charged = (listings ?? []).filter((t) => t.fee.state === 'charged' && !(t.task in models)).map((t) => t.task).join(',')
  useEffect(() => {
    for (const task of charged.split(',').filter((t) => t !== '')) {
      getJson<TaskRunJson>(`/api/task/run?hash=${task}`)
        .then((run) => setModels((m) => ({ ...m, [task]: run.result?.model ?? null })), () => {})
    }
  }, [charged])

  if (listings === null || listings.length === 0) return null
  const takeBack = (t: TaskListing): void => {
    setNote(null)
    setSent((s) => ({ ...s, [t.task]: t.fee.state }))
    void takeFeeBack(wallet, t).then((refused) => {
      if (refused === null) return
      setNote(`task ${shortHex(t.task, 8)}: ${refused}`)
      setSent(({ [t.task]: _done, ...rest }) => rest)
    })
  }
  return (
    <Panel title="Your tasks" className="panel-my-tasks">
      <ul className="my-tasks">
        {listings.map((t) => (
          <li key={t.task} data-testid="my-task" data-task={t.task} data-state={t.fee.state}>
            <code className="mono">{shortHex(t.task, 8)}</code> {t.records} records, {t.model}:{' '}
            <span className="badge">{t.fee.state}</span> {formatCoins(BigInt(t.fee.amount))} coins
            {t.fee.state === 'revocable' ? `, revocable below height ${t.fee.revokeBefore}` : ''}
            {t.fee.state === 'committed' && t.fee.reclaimFrom !== null ? `, yours again from height ${t.fee.reclaimFrom} if no charge spends it` : ''}
            {typeof models[t.task] === 'string' ? (
              <>
                {' · '}<a href={models[t.task]!} download="model.json" data-testid="my-task-model" aria-label={`model.json of task ${shortHex(t.task, 8)}`}>model.json</a>
                {' · '}<a href={`/data/tasks/${t.task}/weights.bin`} download="weights.bin" aria-label={`weights.bin of task ${shortHex(t.task, 8)}`}>weights.bin</a>
              </>
            ) : null}
            {t.fee.state === 'revocable' || t.fee.state === 'reclaimable' ? (
              <button
                type="button" className="button button-stop" onClick={() => takeBack(t)} data-testid="my-task-take-back"
                disabled={sent[t.task] === t.fee.state} aria-label={`take the fee of task ${shortHex(t.task, 8)} back`}
              >
                {sent[t.task] === t.fee.state ? 'sent: waiting for a block' : t.fee.state === 'revocable' ? 'Revoke and take the fee back' : 'No charge came: take the fee back'}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {note !== null ? <div className="banner banner-error" role="alert">{note}</div> : null}
    </Panel>
  )
}
