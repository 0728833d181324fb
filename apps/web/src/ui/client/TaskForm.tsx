import { useState, type FormEvent } from 'react'
import { isPouwError, taskHash, toHex, type TaskSpec } from '@pouw/protocol'
import { createClientTask, taskPackageToBytes, type ImportResult } from '@pouw/trainer'
import { postBytes } from '../../api'
import { formatCoins, parseCoins, type WalletHandle } from '../../wallet'
import { Panel } from '../Panel'
import { TaskRun } from './TaskRun'
import { rememberTask } from './clientTasks'

type Step = { kind: 'form' } | { kind: 'busy'; what: string } | { kind: 'error'; message: string } | { kind: 'submitted'; task: string; tx: string; spec: TaskSpec }

/**
 * The client's task (paper 003 §3.4) over a confirmed upload: the model's hidden layers, the epochs,
 * the fee and how long it stays revocable. Submitting stores the definition and the data on the
 * relay (checked there against the fragment hashes) and pays the fee with PAY_FOR_TASK from this
 * profile's wallet; while the fee is revocable, the client may take it back (REVOKE_TASK).
 */
export function TaskForm({ upload, wallet }: { upload: ImportResult; wallet: WalletHandle }) {
  const [hidden, setHidden] = useState('32')
  const [epochs, setEpochs] = useState('2')
  const [fee, setFee] = useState('5')
  const [window, setWindow] = useState('100')
  const [step, setStep] = useState<Step>({ kind: 'form' })

  const onSubmit = (e: FormEvent): void => {
    e.preventDefault()
    void (async () => {
      try {
        const layers = hidden.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number)
        const units = parseCoins(fee)
        const blocks = Number(window)
        if (!Number.isInteger(blocks) || blocks < 1 || blocks > 100_000) throw new Error('the revocable window must be a whole number of blocks in [1, 100000]')
        const taskId = crypto.getRandomValues(new Uint8Array(16))
        const { spec, fragments } = createClientTask(upload.dataset, { taskId, hidden: layers, epochs: Number(epochs), classes: upload.classes.length })
        const hash = taskHash(spec)
        setStep({ kind: 'busy', what: 'storing the data set on the relay' })
        await postBytes('/api/tasks', taskPackageToBytes(spec, fragments))
        setStep({ kind: 'busy', what: 'signing and sending the fee' })
        const tx = await wallet.transact((w, source) => w.payForTask(source, hash, units, source.tip().height + 1 + blocks, { exclude: source.pending }))
        rememberTask(toHex(hash))
        setStep({ kind: 'submitted', task: toHex(hash), tx, spec })
      } catch (err) {
        setStep({ kind: 'error', message: isPouwError(err) ? `${err.code}: ${err.message.replace(`${err.code}: `, '')}` : (err as Error).message })
      }
    })()
  }

  return (
    <Panel title="Define and pay for the task" className="panel-task-form">
      {step.kind === 'submitted' ? (
        <div data-testid="task-submitted" data-task={step.task}>
          <p>Task <code className="mono">{step.task}</code>, fee transaction <code className="mono">{step.tx.slice(0, 16)}…</code></p>
          <p className="muted">The fee's state, and the way back for it while it is revocable or once no charge came: under "Your tasks".</p>
          <TaskRun task={step.task} spec={step.spec} dataset={upload.dataset} client={wallet.view.key} />
        </div>
      ) : (
        <form className="task-form" onSubmit={onSubmit}>
          <label>Hidden layers (comma-separated sizes)<input value={hidden} onChange={(e) => setHidden(e.target.value)} data-testid="task-hidden" /></label>
          <label>Epochs<input value={epochs} onChange={(e) => setEpochs(e.target.value)} data-testid="task-epochs" inputMode="numeric" /></label>
          <label>Fee (coins)<input value={fee} onChange={(e) => setFee(e.target.value)} data-testid="task-fee" inputMode="decimal" /></label>
          <label>Revocable for (blocks)<input value={window} onChange={(e) => setWindow(e.target.value)} data-testid="task-window" inputMode="numeric" /></label>
          <p className="muted">
            Model: {upload.features} inputs → {hidden || '…'} → {upload.classes.length} classes, over {upload.dataset.count} records.
            Spendable: <span data-testid="task-spendable">{wallet.view.balance ? formatCoins(wallet.view.balance.spendable) : '—'}</span> coins.
          </p>
          <button type="submit" className="button button-start" disabled={step.kind === 'busy'} data-testid="task-submit">Store the data and pay</button>
        </form>
      )}
      {step.kind === 'busy' ? <p className="muted" data-testid="task-busy">{step.what}…</p> : null}
      {step.kind === 'error' ? <div className="banner banner-error" role="alert" data-testid="task-error">{step.message}</div> : null}
    </Panel>
  )
}
