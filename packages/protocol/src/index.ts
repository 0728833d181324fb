export * from './errors.js'
export * from './bytes.js'
export * from './hash.js'
export * from './sign.js'
export * from './messageMap.js'
export * from './itres.js'
export * from './block.js'
export * from './tx.js'
export * from './model.js'
export * from './task.js'
export * from './evidence.js'
export * from './peerUpdates.js'
export * from './epoch.js'
export * from './verdict.js'
export * from './threshold.js'
export * from './dkg.js'
export * from './vrf.js'
export * from './selection.js'
export * from './history.js'

/** gossipsub topics */
export const TOPICS = {
  itres: (taskIdHex: string) => `/pouw/1/itres/${taskIdHex}`,
  blocks: '/pouw/1/blocks',
  verdicts: '/pouw/1/verdicts',
  /** verifiers' reveals (signed approvals with their nonce precursors) of the blocks they sealed a verdict on: relays only */
  reveals: '/pouw/1/reveals',
  /** signed transfers for the relays' mempools (relays only: tabs get block templates over HTTP) */
  txs: '/pouw/1/txs',
  /** TASK_JOIN, EPOCH_PROPOSAL and EPOCH records: miners and supervisors */
  epochs: (taskIdHex: string) => `/pouw/1/epochs/${taskIdHex}`,
  /** supervisors only: hellos, the DKG, the message-history consensus and its MESSAGE_HISTORY records */
  supervisors: (taskIdHex: string) => `/pouw/1/supervisors/${taskIdHex}`,
} as const
