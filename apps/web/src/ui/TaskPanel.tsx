import type { TaskView, TrainingState } from '../volunteer'
import { MISSING, formatFixed, formatInt } from './format'
import { Panel } from './Panel'
import { Stat } from './Stat'

export interface TaskPanelProps {
  task: TaskView
}

const STATE_BADGE: Record<TrainingState, string> = {
  loading: 'verdict-pending',
  joining: 'verdict-pending',
  training: 'badge-ok',
  waiting: 'verdict-pending',
  done: 'badge-ok',
  error: 'badge-off',
}

/** The shared training: epoch, members, this tab's share, the test accuracy, and what the tab is doing. */
export function TaskPanel({ task }: TaskPanelProps) {
  const test = task.test
  const f = task.fragments
  return (
    <Panel
      title="Task"
      className="panel-task"
      aside={
        <span className={`badge ${STATE_BADGE[task.state]}`} data-testid="training-state" data-state={task.state}>
          {task.state}
        </span>
      }
    >
      <div className="stats">
        <Stat label="Epoch" testId="epoch" value={formatInt(task.epoch)} unit={task.epochs == null ? undefined : `of ${task.epochs}`} />
        <Stat label="Members" testId="members" value={formatInt(task.members)} unit={task.members == null ? undefined : task.member ? 'incl. this tab' : 'not this tab'} />
        <Stat label="Batches left" testId="batches-left" value={formatInt(task.batchesLeft)} />
        <Stat
          label={test?.final ? 'Test accuracy (final)' : 'Test accuracy'}
          testId="test-accuracy"
          value={formatFixed(test?.accuracy, 4)}
          rawValue={test?.accuracy ?? null}
        />
        <Stat label="Peer updates applied" testId="peers-applied" value={formatInt(task.peersApplied)} />
        <Stat
          label="Peer messages refused"
          testId="peer-rejected"
          value={formatInt(task.peerRejected)}
          title={task.lastRejectCode ?? undefined}
        />
      </div>
      <p className="muted task-detail" data-testid="training-detail">
        {task.detail}
      </p>
      {task.state === 'loading' && f ? (
        <progress
          className="task-progress"
          data-testid="fragments"
          data-done={f.done}
          data-total={f.total}
          max={f.totalBytes || 1}
          value={f.bytes}
        />
      ) : null}
      <dl className="facts">
        <dt>Test set</dt>
        <dd className="mono" data-testid="test-detail">
          {test ? `epoch ${test.epoch}: loss ${formatFixed(test.loss, 4)} on ${formatInt(test.count)} records` : MISSING}
        </dd>
        {task.testHistory.length > 0 ? (
          <>
            <dt>By epoch</dt>
            <dd className="mono" data-testid="test-history">
              {task.testHistory.map((e) => `${e.epoch}: ${formatFixed(e.accuracy, 4)}`).join(' · ')}
            </dd>
          </>
        ) : null}
        <dt>Identity</dt>
        <dd className="muted">
          {task.keyPersisted == null ? MISSING : task.keyPersisted ? 'kept in this browser (IndexedDB)' : 'this tab only'}
        </dd>
      </dl>
    </Panel>
  )
}
