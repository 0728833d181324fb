// Loaded first with `node --import ./scripts/node-polyfills.mjs ...` (P2P-NOTES 1): Node 20 lacks
// Promise.withResolvers and a global WebSocket, which libp2p 3 needs. The code lives with the
// network package, which also imports it itself from its Node entry point (@pouw/network/node).
import '../packages/network/src/polyfills.mjs'
