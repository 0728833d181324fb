import { workFromBits } from '@pouw/protocol'
import type { ConnectionInfo } from '../p2p'
import type { VolunteerView } from '../volunteer'
import { MISSING, formatInt } from './format'
import { Panel } from './Panel'

export interface NetworkPanelProps {
  relay: VolunteerView['relay']
  p2p: VolunteerView['p2p']
  chain: VolunteerView['chain']
  blockSeconds: VolunteerView['blockSeconds']
  minerId: string | null
}

const TRANSPORT_LABEL: Record<ConnectionInfo['transport'], string> = {
  webrtc: 'WebRTC',
  websockets: 'websocket',
  circuit: 'relayed',
  other: 'other',
}

/** WebRTC links first, then relays, then relayed circuits (signalling); stable within a kind. */
const ORDER: Record<ConnectionInfo['transport'], number> = { webrtc: 0, websockets: 1, circuit: 2, other: 3 }

function shortPeer(id: string): string {
  return id.length <= 14 ? id : `…${id.slice(-10)}`
}

export function NetworkPanel({ relay, p2p, chain, blockSeconds, minerId }: NetworkPanelProps) {
  const connections = [...p2p.connections].sort((a, b) => ORDER[a.transport] - ORDER[b.transport])
  const direct = connections.filter((c) => c.transport === 'webrtc').length
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
        <dt>This tab</dt>
        <dd className="mono truncate" title={p2p.peerId ?? undefined} data-testid="local-peer-id">
          {p2p.peerId ?? MISSING}
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
        <dt>Difficulty</dt>
        <dd className="mono" data-testid="difficulty" title="header hashes a block on the tip needs on average (the difficulty adjusts to hold the block time)">
          {chain ? `~${formatInt(Number(workFromBits(chain.nextBits)))} hashes/block` : MISSING}
          {blockSeconds != null ? `, target ${blockSeconds} s` : ''}
        </dd>
        <dt>Links</dt>
        <dd className="mono">
          <span data-testid="conn-direct-count">{direct}</span> direct ·{' '}
          <span data-testid="conn-relay-count">{connections.length - direct}</span> via relays
        </dd>
      </dl>
      {connections.length > 0 ? (
        <table className="table connections">
          <thead>
            <tr>
              <th>Link</th>
              <th>Peer</th>
            </tr>
          </thead>
          <tbody>
            {connections.map((c, i) => (
              <tr key={`${c.peerId}/${c.addr}/${i}`} data-testid="conn-row" data-transport={c.transport} data-peer={c.peerId} data-relay={c.relay ? 'true' : 'false'}>
                <td className="nowrap">{c.relay ? `${TRANSPORT_LABEL[c.transport]} (relay)` : TRANSPORT_LABEL[c.transport]}</td>
                <td className="mono truncate" title={`${c.peerId}\n${c.addr}`}>
                  {shortPeer(c.peerId)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Panel>
  )
}
