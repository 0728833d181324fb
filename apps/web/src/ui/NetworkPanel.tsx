import type { VolunteerView } from '../volunteer'
import { MISSING, formatInt } from './format'
import { Panel } from './Panel'

export interface NetworkPanelProps {
  relay: VolunteerView['relay']
  chain: VolunteerView['chain']
  minerId: string | null
}

export function NetworkPanel({ relay, chain, minerId }: NetworkPanelProps) {
  return (
    <Panel title="Network" className="panel-network">
      <dl className="facts">
        <dt>Relay</dt>
        <dd>
          <span
            className={relay.connected ? 'badge badge-ok' : 'badge badge-off'}
            data-testid="relay-status"
            data-connected={relay.connected ? 'true' : 'false'}
          >
            {relay.connected ? 'connected' : 'offline'}
          </span>
          {relay.addr ? (
            <span className="mono truncate relay-addr" title={relay.addr}>
              {relay.addr}
            </span>
          ) : null}
        </dd>
        <dt>Peer id</dt>
        <dd className="mono truncate" title={relay.peerId ?? undefined} data-testid="peer-id">
          {relay.peerId ?? MISSING}
        </dd>
        <dt>Miner</dt>
        <dd className="mono truncate" title={minerId ?? undefined} data-testid="miner-id">
          {minerId ?? MISSING}
        </dd>
        <dt>Height</dt>
        <dd className="mono" data-testid="height">
          {chain ? formatInt(chain.height) : MISSING}
        </dd>
        <dt>Tip</dt>
        <dd className="mono truncate" title={chain?.tipHash} data-testid="tip-hash">
          {chain?.tipHash ?? MISSING}
        </dd>
      </dl>
    </Panel>
  )
}
