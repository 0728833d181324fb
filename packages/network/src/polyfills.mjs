// Node 20 lacks two things libp2p 3 needs (P2P-NOTES 1); both are no-ops on Node >= 22.
// Plain JavaScript so that `node --import ./scripts/node-polyfills.mjs` can load it before tsx;
// src/node.ts imports it too, so that a forgotten flag does not break a Node process.
import { createRequire } from 'node:module'

// 1. Promise.withResolvers (ES2024): libp2p's dependencies call it on start and stop.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers() {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

// 2. A global WebSocket: @libp2p/websockets dials with `new WebSocket(url)` (global since Node 22,
// behind --experimental-websocket on Node 20). Use `ws`, which @libp2p/websockets depends on for its
// listener, resolved from there so that we do not rely on it being hoisted to the root.
if (typeof globalThis.WebSocket !== 'function') {
  const require = createRequire(import.meta.resolve('@libp2p/websockets'))
  const { WebSocket } = require('ws')
  globalThis.WebSocket = WebSocket
}
