import type { VolunteerView } from '../volunteer'
import { formatCoins } from '../wallet'
import { formatInt, shortHex } from './format'
import { Panel } from './Panel'
import { Stat } from './Stat'

export interface BlocksPanelProps {
  blocks: VolunteerView['blocks']
}

export function BlocksPanel({ blocks }: BlocksPanelProps) {
  return (
    <Panel title="Blocks" className="panel-blocks">
      <div className="stats stats-3">
        <Stat label="Found" testId="blocks-found" value={formatInt(blocks.found)} />
        <Stat label="Accepted" testId="blocks-accepted" value={formatInt(blocks.accepted)} />
        <Stat label="Rejected" testId="blocks-rejected" value={formatInt(blocks.rejected)} />
      </div>
      {blocks.recent.length === 0 ? (
        <p className="muted empty">No blocks mined yet.</p>
      ) : (
        <table className="table blocks">
          <thead>
            <tr>
              <th>hash</th>
              <th className="num">iter</th>
              <th className="num">height</th>
              <th className="num" title="what the coinbase pays this tab: the subsidy share its parent's collected approvals prove, plus fees, less the approving verifiers' 10%">reward</th>
              <th>verdict</th>
            </tr>
          </thead>
          <tbody>
            {blocks.recent.map((b) => (
              <tr
                key={b.hash}
                data-testid="block-row"
                data-hash={b.hash}
                data-verdict={b.verdict}
                data-reason={b.reason ?? ''}
              >
                <td className="mono nowrap" title={b.hash}>
                  {shortHex(b.hash, 8)}
                </td>
                <td className="num mono">{formatInt(b.iteration)}</td>
                <td className="num mono">{b.height == null ? '' : formatInt(b.height)}</td>
                <td className="num mono" data-testid="block-reward" title={`${b.collected} approval${b.collected === 1 ? '' : 's'} of its parent collected`}>
                  {formatCoins(b.reward)}
                </td>
                <td>
                  <span className={`badge verdict-${b.verdict}`}>{b.verdict}</span>
                  {b.reason ? <span className="reason">{b.reason}</span> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  )
}
