export * from './plan.js'
export * from './fragments.js'
export * from './assignment.js'
export * from './reedSolomon.js'
