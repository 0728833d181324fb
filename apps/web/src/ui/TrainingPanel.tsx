import type { VolunteerView } from '../volunteer'
import { formatFixed, formatInt } from './format'
import { LossCurve } from './LossCurve'
import { Panel } from './Panel'
import { Stat } from './Stat'

export interface TrainingPanelProps {
  view: VolunteerView
}

export function TrainingPanel({ view }: TrainingPanelProps) {
  return (
    <Panel title="Training" className="panel-training">
      <div className="stats">
        <Stat label="Loss (avg 20)" testId="loss-avg" value={formatFixed(view.lossAvg, 4)} />
        <Stat label="Loss (first 20)" testId="loss-first" value={formatFixed(view.lossFirst, 4)} />
        <Stat label="Accuracy (avg 20)" testId="accuracy-avg" value={formatFixed(view.accuracyAvg, 4)} />
        <Stat label="Iterations" testId="iterations" value={formatInt(view.iterations)} />
        <Stat label="Iterations / s" testId="iters-per-sec" value={formatFixed(view.itersPerSec, 2)} />
        <Stat label="Samples / s" testId="samples-per-sec" value={formatFixed(view.samplesPerSec, 0)} />
        <Stat label="Batch" testId="batch-index" value={formatInt(view.batchIndex)} />
      </div>
      <LossCurve points={view.lossCurve} />
    </Panel>
  )
}
