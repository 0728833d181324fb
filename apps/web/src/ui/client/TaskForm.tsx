import { useMemo, useState, type FormEvent } from 'react'
import { describeNet, taskHash, toHex, type Hardware, type Loss, type Metric, type OptimizerSpec, type TaskSpec } from '@pouw/protocol'
import { DEFAULT_OPTIMIZERS, clientNet, createClientTask, defaultBatchSize, parseLayers, taskPackageToBytes, type ImportResult } from '@pouw/trainer'
import { postBytes } from '../../api'
import { formatCoins, parseCoins, type WalletHandle } from '../../wallet'
import { Panel } from '../Panel'
import { TaskRun } from './TaskRun'
import { rememberTask } from './clientTasks'

type Step = { kind: 'form' } | { kind: 'busy'; what: string } | { kind: 'error'; message: string } | { kind: 'submitted'; task: string; tx: string; spec: TaskSpec }

/** A form field that must hold a whole number, or an error naming it. */
function whole(text: string, what: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new Error(`${what} must be a whole number, got "${text}"`)
  return Number(text)
}

/** A form field that must hold a non-negative decimal number (a dot for the decimals), or an error naming it. */
function decimal(text: string, what: string): number {
  if (!/^\s*(\d+\.?\d*|\.\d+)(e-?\d+)?\s*$/i.test(text)) throw new Error(`${what} must be a number such as 0.01, got "${text}"`)
  return Number(text)
}

/** A PouwError's message starts with its code already ("DATA_BAD_PARAMS: …"). */
const errorText = (err: unknown): string => (err as Error).message

/**
 * The client's task (paper 003 §3.4) over a confirmed upload: the network (its hidden layers written
 * as text, parseLayers; the output layer, one unit per class, is added), the loss, the optimiser and
 * its learning rate, the metric, the stopping rule (epochs, and early stopping on the validation holdout), the
 * expected time and the hardware a tab needs, the fee and how long it stays revocable. The parameter
 * count, or what is wrong with the layers, shows as the client types. Submitting stores the
 * definition and the data on the relay (checked there against the fragment hashes) and pays the fee
 * with PAY_FOR_TASK from this profile's wallet.
 */
export function TaskForm({ upload, wallet }: { upload: ImportResult; wallet: WalletHandle }) {
  const input = useMemo(() => (upload.shape !== undefined ? [upload.shape[0], upload.shape[1], 1] : [upload.features]), [upload])
  const [model, setModel] = useState(upload.shape !== undefined ? 'conv 8 3 relu, maxpool 2, flatten, dense 32 relu' : 'dense 32 relu')
  const [loss, setLoss] = useState<Loss>('cross-entropy')
  const [optimizer, setOptimizer] = useState<OptimizerSpec['kind']>('sgd')
  const [rate, setRate] = useState('')
  const [epochs, setEpochs] = useState('2')
  const [patience, setPatience] = useState('0')
  const [minutes, setMinutes] = useState('')
  const [hardware, setHardware] = useState<Hardware>('any')
  const [metric, setMetric] = useState<Metric>('accuracy')
  const [fee, setFee] = useState('5')
  const [window, setWindow] = useState('100')
  const [step, setStep] = useState<Step>({ kind: 'form' })

  // the network as typed so far: its description and parameter count, or what is wrong with it
  const preview = useMemo(() => {
    try {
      const { net, shapes } = clientNet(input, parseLayers(model), upload.classes.length, loss, defaultBatchSize(upload.dataset.count))
      return `${describeNet(net)}: ${shapes.parameterCount.toLocaleString('en')} parameters, over ${upload.dataset.count} records.`
    } catch (err) {
      return errorText(err)
    }
  }, [model, loss, upload, input])

  const onSubmit = (e: FormEvent): void => {
    e.preventDefault()
    void (async () => {
      try {
        const units = parseCoins(fee)
        const blocks = Number(window)
        if (!Number.isInteger(blocks) || blocks < 1 || blocks > 100_000) throw new Error('the revocable window must be a whole number of blocks in [1, 100000]')
        const taskId = crypto.getRandomValues(new Uint8Array(16))
        const expectedMinutes = minutes.trim() === '' ? 0 : decimal(minutes, 'the expected time (minutes)')
        const { spec, fragments } = createClientTask(upload.dataset, {
          taskId, hidden: parseLayers(model), inputShape: input, loss, optimizer: DEFAULT_OPTIMIZERS[optimizer],
          ...(rate.trim() !== '' ? { learningRate: decimal(rate, 'the learning rate') } : {}),
          epochs: whole(epochs, 'epochs'), patience: whole(patience, 'patience'), expectedSeconds: Math.round(expectedMinutes * 60), hardware, metric,
          classes: upload.classes.length,
        })
        const hash = taskHash(spec)
        setStep({ kind: 'busy', what: 'storing the data set on the relay' })
        await postBytes('/api/tasks', taskPackageToBytes(spec, fragments))
        setStep({ kind: 'busy', what: 'signing and sending the fee' })
        const tx = await wallet.transact((w, source) => w.payForTask(source, hash, units, source.tip().height + 1 + blocks, { exclude: source.pending }))
        rememberTask(toHex(hash))
        setStep({ kind: 'submitted', task: toHex(hash), tx, spec })
      } catch (err) {
        setStep({ kind: 'error', message: errorText(err) })
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
          <label className="task-form-wide">
            Layers between the input [{input.join(', ')}] and the output ({upload.classes.length} classes): dense, conv, maxpool, avgpool, flatten, batchnorm, dropout
            <input value={model} onChange={(e) => setModel(e.target.value)} data-testid="task-model" spellCheck={false} />
          </label>
          <label>Loss
            <select value={loss} onChange={(e) => setLoss(e.target.value as Loss)} data-testid="task-loss">
              <option value="cross-entropy">softmax cross-entropy</option>
              <option value="mse">mean squared error</option>
            </select>
          </label>
          <label>Optimiser
            <select value={optimizer} onChange={(e) => setOptimizer(e.target.value as OptimizerSpec['kind'])} data-testid="task-optimizer">
              <option value="sgd">SGD</option>
              <option value="momentum">SGD with momentum 0.9</option>
              <option value="adam">Adam</option>
            </select>
          </label>
          <label>Learning rate (empty: the optimiser's default)<input value={rate} onChange={(e) => setRate(e.target.value)} data-testid="task-rate" inputMode="decimal" /></label>
          <label>Epochs (at most)<input value={epochs} onChange={(e) => setEpochs(e.target.value)} data-testid="task-epochs" inputMode="numeric" /></label>
          <label>Scored by (the evaluators, and early stopping)
            <select value={metric} onChange={(e) => setMetric(e.target.value as Metric)} data-testid="task-metric">
              <option value="accuracy">accuracy</option>
              <option value="macro-f1">macro-F1 (mean of the classes' F1)</option>
            </select>
          </label>
          <label>Stop early after epochs without a better validation score (0: never)<input value={patience} onChange={(e) => setPatience(e.target.value)} data-testid="task-patience" inputMode="numeric" /></label>
          <label>Expected training time (minutes, optional)<input value={minutes} onChange={(e) => setMinutes(e.target.value)} data-testid="task-minutes" inputMode="decimal" /></label>
          <label>Hardware
            <select value={hardware} onChange={(e) => setHardware(e.target.value as Hardware)} data-testid="task-hardware">
              <option value="any">any backend</option>
              <option value="gpu">a GPU (WebGPU) only</option>
            </select>
          </label>
          <label>Fee (coins)<input value={fee} onChange={(e) => setFee(e.target.value)} data-testid="task-fee" inputMode="decimal" /></label>
          <label>Revocable for (blocks)<input value={window} onChange={(e) => setWindow(e.target.value)} data-testid="task-window" inputMode="numeric" /></label>
          <p className="muted" data-testid="task-shape">
            {preview}
            {' '}Spendable: <span data-testid="task-spendable">{wallet.view.balance ? formatCoins(wallet.view.balance.spendable) : '—'}</span> coins.
          </p>
          <button type="submit" className="button button-start" disabled={step.kind === 'busy'} data-testid="task-submit">Store the data and pay</button>
        </form>
      )}
      {step.kind === 'busy' ? <p className="muted" data-testid="task-busy">{step.what}…</p> : null}
      {step.kind === 'error' ? <div className="banner banner-error" role="alert" data-testid="task-error">{step.message}</div> : null}
    </Panel>
  )
}
