export * from './errors.js'
export * from './bytes.js'
export * from './hash.js'
export * from './sign.js'
export * from './messageMap.js'
export * from './itres.js'
export * from './block.js'
export * from './task.js'
export * from './evidence.js'
export * from './verdict.js'

/** gossipsub topics */
export const TOPICS = {
  itres: (taskIdHex: string) => `/pouw/1/itres/${taskIdHex}`,
  blocks: '/pouw/1/blocks',
  verdicts: '/pouw/1/verdicts',
} as const
