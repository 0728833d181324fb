import type { BackendChoice } from '../volunteer'
import { MISSING, formatFixed } from './format'
import { Panel } from './Panel'

export interface BackendPanelProps {
  backend: BackendChoice | null
  selecting: boolean
}

export function BackendPanel({ backend, selecting }: BackendPanelProps) {
  return (
    <Panel title="Backend" className="panel-backend">
      <div className="backend-choice">
        <span className="backend-name" data-testid="backend">
          {backend?.name ?? MISSING}
        </span>
        <p className="backend-reason" data-testid="backend-reason">
          {backend?.reason ?? (selecting ? 'Measuring available backends…' : 'Chosen when training starts.')}
        </p>
      </div>
      {backend && backend.measurements.length > 0 ? (
        <table className="table measurements" data-testid="backend-measurements">
          <thead>
            <tr>
              <th>backend</th>
              <th className="num">samples/s</th>
              <th>note</th>
            </tr>
          </thead>
          <tbody>
            {backend.measurements.map((m) => (
              <tr
                key={m.backend}
                className={m.backend === backend.name ? 'is-chosen' : undefined}
                data-backend={m.backend}
              >
                <td className="mono">{m.backend}</td>
                <td className="num mono">{formatFixed(m.samplesPerSec, 0)}</td>
                <td className="muted">{m.note ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Panel>
  )
}
