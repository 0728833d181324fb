import { useEffect, useState } from 'react'
import { describeNet, fromHex, type Metric, type TaskSpec } from '@pouw/protocol'
import { loadBatch, metricPpm, taskPlan, taskSeed, type Dataset } from '@pouw/trainer'
import { getJson, paidTo, type TaskRunJson } from '../../api'
import { formatCoins } from '../../wallet'
import { shortHex } from '../format'

const POLL_MS = 3000

type Check = { state: 'idle' | 'checking' } | { state: 'done'; ppm: number; correct: number; count: number } | { state: 'error'; message: string }

const METRIC_NAME: Record<Metric, string> = { accuracy: 'accuracy', 'macro-f1': 'macro-F1' }

const percent = (ppm: number | null | undefined): string => (ppm == null ? '—' : `${(ppm / 10_000).toFixed(2)}%`)

/**
 * The client's own check of the evaluators' figure: loads the best model as
 * any TensorFlow.js user would (tf.loadLayersModel from the relay's
 * model.json), predicts the task's test split from the client's own copy of
 * the data, and scores the predictions with the task's metric exactly as the
 * evaluators do (metricPpm: ppm, rounded down). On tfjs's cpu backend, while
 * the relays score on wasm: the two agree on each record's class unless two
 * classes' outputs nearly tie.
 */
async function checkModel(modelUrl: string, spec: TaskSpec, dataset: Dataset, definitionBlockHash: string): Promise<Check> {
  const tf = await import('@tensorflow/tfjs')
  await tf.setBackend('cpu')
  const model = await tf.loadLayersModel(modelUrl)
  const records = taskPlan(spec, taskSeed(fromHex(definitionBlockHash), spec)).testRecords
  const { x, labels } = loadBatch(dataset, records)
  const predicted = tf.tidy(() => (model.predict(tf.tensor2d(x, [labels.length, dataset.features])) as import('@tensorflow/tfjs').Tensor).argMax(1).dataSync())
  model.dispose()
  const correct = labels.reduce((n, l, i) => n + (predicted[i] === l ? 1 : 0), 0)
  return { state: 'done', ppm: metricPpm(spec.metric, predicted, labels), correct, count: labels.length }
}

/** The definition in one line: network, optimiser, stopping rule, metric, expected time, hardware. */
function definitionLine(spec: TaskSpec): string {
  const o = spec.optimizer
  const optimizer = o.kind === 'sgd' ? 'SGD' : o.kind === 'momentum' ? `SGD, momentum ${Number(o.momentum.toPrecision(3))}` : 'Adam'
  return [
    describeNet(spec.net), `${optimizer}, learning rate ${Number(spec.learningRate.toPrecision(3))}`,
    spec.patience > 0 ? `up to ${spec.epochs} epochs, stopping after ${spec.patience} without a better validation ${METRIC_NAME[spec.metric]}` : `${spec.epochs} epochs`,
    `scored by ${METRIC_NAME[spec.metric]}`,
    ...(spec.expectedSeconds > 0 ? [`expected ${Math.ceil(spec.expectedSeconds / 60)} min`] : []),
    ...(spec.hardware === 'gpu' ? ['GPU only'] : []),
  ].join('; ')
}

/**
 * A paid task's run as the relay reports it (GET /api/task/run): the definition block, the miners'
 * joins and selection, their models, the evaluators' commit, reveal and approval, the charge
 * that splits the fee; then the best model to download and check.
 */
export function TaskRun({ task, spec, dataset, client }: { task: string; spec: TaskSpec; dataset: Dataset; client: string | null }) {
  const [run, setRun] = useState<TaskRunJson | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [check, setCheck] = useState<Check>({ state: 'idle' })

  useEffect(() => {
    let stopped = false
    const tick = (): void => {
      getJson<TaskRunJson>(`/api/task/run?hash=${task}`).then((r) => { if (!stopped) { setRun(r); setError(null) } }, (e: Error) => setError(e.message))
    }
    tick()
    const timer = setInterval(tick, POLL_MS)
    return () => { stopped = true; clearInterval(timer) }
  }, [task])

  if (run === null) return <p className="muted" data-testid="run-phase" data-phase="unknown">{error ?? 'asking the relay…'}</p>
  const n = run.evaluators.length
  const sel = run.selection
  const result = run.result
  const onCheck = (modelUrl: string): void => {
    setCheck({ state: 'checking' })
    checkModel(modelUrl, spec, dataset, run.definitionBlock!.hash).then(setCheck, (e: Error) => setCheck({ state: 'error', message: e.message }))
  }

  return (
    <div className="task-run" data-testid="task-run">
      <p>Run: <span className="badge" data-testid="run-phase" data-phase={run.phase}>{run.phase}</span></p>
      <p className="muted mono" data-testid="run-definition">{definitionLine(spec)}</p>
      <ol className="run-steps">
        <li data-done={String(run.definitionBlock !== null)}>
          Definition block: {run.definitionBlock === null ? 'waiting for the fee to be committed' : `height ${run.definitionBlock.height}, tickets join in blocks up to ${run.joinUntil}`}
        </li>
        <li data-done={String(sel !== null)}>
          Miners: {run.joins.length} joined
          {sel === null ? '' : sel.outcome === 'not-run' ? ', too few to run: the fee goes back' : sel.outcome === 'unavailable' ? ', none: the relays hold no data for this task, so the workers that report it get the fee' : `, ${sel.miners.length} selected (${sel.miners.map((m) => shortHex(m.key, 4)).join(', ')})`}
        </li>
        {sel !== null && sel.miners.length > 0 && run.models.length < sel.miners.length ? (
          <li data-done="false" data-testid="run-progress" data-reports={run.progress.length}>
            Training:{' '}
            {sel.miners.map((m) => {
              const p = run.progress.find((x) => x.miner === m.key)
              const done = run.models.includes(m.key)
              return (
                <span key={m.key} className="mono run-miner">
                  {shortHex(m.key, 4)}{' '}
                  {done ? 'posted its model' : p === undefined ? 'no report yet'
                    : `epoch ${p.epoch + 1}/${spec.epochs}, batch ${p.batch + 1}/${p.batches}, loss ${p.loss.toFixed(3)}, accuracy ${(p.accuracy * 100).toFixed(1)}%`}
                  {'; '}
                </span>
              )
            })}
          </li>
        ) : null}
        <li data-done={String(sel !== null && run.models.length >= sel.miners.length)}>Final models: {run.models.length} of {sel?.miners.length ?? '—'}</li>
        <li data-done={String(result !== null)}>
          {sel !== null && n === 0
            ? 'Evaluators: too few relays joined the task with an evaluator ticket; no one evaluates it, and the fee is yours again from its reclaim height'
            : `Evaluators: ${run.commits.length} of ${n} committed, ${run.reveals.length} revealed, ${run.approvals.length} approved the charge`}
        </li>
        <li data-done={String(run.charged)}>
          {result === null ? 'Charge: after the evaluators agree'
            : `Charge ${shortHex(result.charge, 6)}: ${run.charged ? 'mined' : 'waiting for a block'}; the best model scores ${percent(result.bestScorePpm)} ${METRIC_NAME[spec.metric]} on the test split`}
        </li>
      </ol>
      {result !== null ? (
        <dl className="facts">
          <dt>Best score ({METRIC_NAME[spec.metric]})</dt>
          <dd className="mono" data-testid="run-best" data-ppm={result.bestScorePpm ?? ''}>{percent(result.bestScorePpm)}</dd>
          <dt>Fee split</dt>
          <dd className="mono" data-testid="run-payouts">
            {result.payouts.length} payouts{paidTo(run, client) > 0n ? `, ${formatCoins(paidTo(run, client))} back to you` : ''}
          </dd>
        </dl>
      ) : null}
      {run.charged && result?.model ? (
        <div className="model-download">
          <p>
            Download the model (TensorFlow.js layers format, <code>tf.loadLayersModel</code>):{' '}
            <a href={result.model} download="model.json" data-testid="model-json">model.json</a>{' · '}
            <a href={`/data/tasks/${task}/weights.bin`} download="weights.bin" data-testid="model-weights">weights.bin</a>
          </p>
          <button type="button" className="button" onClick={() => onCheck(result.model!)} disabled={check.state === 'checking'} data-testid="model-check-run">
            Check it on my test split
          </button>
          <p className="muted" data-testid="model-check" data-state={check.state} data-ppm={check.state === 'done' ? check.ppm : ''}>
            {check.state === 'done' ? `checked here: ${percent(check.ppm)} ${METRIC_NAME[spec.metric]} (${check.correct} of ${check.count} test records right); the evaluators: ${percent(result.bestScorePpm)}`
              : check.state === 'error' ? `the check failed: ${check.message}` : check.state === 'checking' ? 'loading the model and predicting…' : ''}
          </p>
        </div>
      ) : null}
      {error !== null ? <p className="muted" role="status">{error}</p> : null}
    </div>
  )
}
