import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair, itResToBytes, itResHash, sign, signAsync, signItRes, signItResToBytes, ZERO_HASH, mapEntry } from '../src/index.js'

test('signAsync (WebCrypto) gives the same bytes as noble sign', async () => {
  for (let i = 0; i < 50; i++) {
    const kp = generateKeyPair()
    const msg = crypto.getRandomValues(new Uint8Array(i * 7))
    assert.deepEqual(await signAsync(kp.secretKey, msg), sign(kp.secretKey, msg))
  }
})

test('signItResToBytes equals itResToBytes(signItRes()) and its hash', async () => {
  const kp = generateKeyPair(new Uint8Array(32).fill(7))
  const m = {
    taskId: new Uint8Array(16).fill(1), backend: 'wasm' as const, miner: kp.publicKey, iteration: 9, epoch: 0, batchIndex: 3,
    map: Uint32Array.from([mapEntry(true, 3), mapEntry(false, 70)]), metrics: [1.5, 0.25], tStart: 10, tFinish: 11,
    batchHash: ZERO_HASH, peerUpdatesHash: ZERO_HASH, modelHash: ZERO_HASH, residualHash: ZERO_HASH, znbHash: ZERO_HASH, nextPeerMessagesHash: ZERO_HASH,
  }
  const reference = itResToBytes(signItRes(m, kp.secretKey))
  const fast = await signItResToBytes(m, kp.secretKey)
  assert.deepEqual(fast.bytes, reference)
  assert.deepEqual(fast.hash, itResHash(reference))
})
