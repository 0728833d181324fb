import type { ClientTaskView, TaskMinerView } from '../taskMiner'
import { formatCoins } from '../wallet'
import { formatFixed, shortHex } from './format'
import { Panel } from './Panel'

const STATE_TEXT: Record<TaskMinerView['state'], string> = {
  off: 'start the tab to take part',
  'waiting-lock': 'another tab of this browser does this wallet\'s client tasks',
  on: 'following paid tasks',
}

function doing(t: ClientTaskView): string {
  if (t.paid !== null) return t.paid > 0n ? `paid ${formatCoins(t.paid)} coins` : 'charged: nothing paid to this wallet'
  if (t.posted) return 'model posted: the evaluators are testing it'
  if (t.reported) return 'reported malformed: the relays hold no data for it; the fee goes to the workers that report it'
  const p = t.training
  if (p !== null && t.selected === true) {
    if (p.stage !== 'training') return p.stage === 'backend' ? 'choosing a backend' : `downloading the training split (${p.backend})`
    return `training: epoch ${p.epoch + 1} of ${p.epochs}, batch ${p.batch} of ${p.batches}, loss ${formatFixed(p.loss, 4)} (${p.backend})`
  }
  if (t.selected === false) return 'not selected'
  if (t.selected === true) return 'selected'
  return t.applied !== null ? 'joined: waiting for the selection' : t.phase === 'joining' ? 'not joined: no live miner ticket, or too late in the window' : t.phase
}

/**
 * The client tasks this tab follows (taskMiner.ts): for each paid task, whether this wallet's
 * ticket joined, was selected, trained and was paid.
 */
export function ClientTasksPanel({ miner }: { miner: TaskMinerView }) {
  return (
    <Panel title="Client tasks" className="panel-client-tasks" aside={<span className="muted" data-testid="client-tasks-state" data-state={miner.state}>{STATE_TEXT[miner.state]}</span>}>
      {miner.tasks.length === 0 ? <p className="muted">no paid task is open</p> : miner.tasks.map((t) => (
        <div
          key={t.task} className="client-task" data-testid="client-task" data-task={t.task} data-phase={t.phase} data-applied={String(t.applied !== null)}
          data-selected={String(t.selected)} data-posted={String(t.posted)} data-reported={String(t.reported)} data-paid={t.paid?.toString() ?? ''}
        >
          <div><code className="mono" title={t.task}>{shortHex(t.task, 8)}</code> <span className="badge">{t.phase}</span></div>
          <div className="muted">{doing(t)}</div>
          {t.note !== null ? <div className="muted" role="status">{t.note}</div> : null}
        </div>
      ))}
      {miner.error !== null ? <p className="muted" role="status">{miner.error}</p> : null}
    </Panel>
  )
}
