/**
 * The tab's network: @pouw/network's browser node, plus a debug hook for the end-to-end tests.
 * When the page was opened with `window.__POUW_DEBUG__ = true` set before the bundle loaded
 * (Playwright's addInitScript), the network is exposed as `window.__pouw.network`, so that a
 * test can publish on a topic of its own and read `stats()`. A normal page never has it.
 */
import { createBrowserNetwork as createNetwork, type ClientNetworkOptions, type PubSubNetwork } from '@pouw/network'

export { ItResDelivery, postToSupervisors } from '@pouw/network'
export type { ConnectionInfo, PubSubNetwork, RelayInfo, TransportKind } from '@pouw/network'

declare global {
  interface Window {
    __POUW_DEBUG__?: boolean
    __pouw?: { network: PubSubNetwork }
  }
}

export async function createBrowserNetwork(opts: ClientNetworkOptions): Promise<PubSubNetwork> {
  const network = await createNetwork(opts)
  if (typeof window !== 'undefined' && window.__POUW_DEBUG__ === true) window.__pouw = { network }
  return network
}
