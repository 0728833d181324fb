import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeNet, netShapes, type NetSpec } from '../src/index.js'

/**
 * What consensus and the exported weights depend on for a network, worked out by hand: each layer's
 * output shape, where each parameter tensor lies in θ (batch norm's moving moments not trained),
 * the activations and multiply-adds per record. The task vectors pin encodings; this pins the layout.
 */
describe('network shapes and parameter layout', () => {
  it('a convolutional network with batch norm and pooling, by hand', () => {
    const net: NetSpec = {
      input: [10, 10, 2],
      layers: [
        { kind: 'conv2d', filters: 4, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' }, // 8×8×4: 3·3·2·4 + 4 = 76
        { kind: 'batchNorm' }, // 4 × (gamma, beta, moving mean, moving variance) = 16
        { kind: 'maxPool', size: 2, stride: 2 }, // 4×4×4
        { kind: 'conv2d', filters: 3, kernel: 3, stride: 2, padding: 'same', activation: 'elu' }, // ceil(4 / 2) = 2: 2×2×3, 3·3·4·3 + 3 = 111
        { kind: 'flatten' }, // 12
        { kind: 'dropout', ratePermille: 500 },
        { kind: 'dense', units: 5, activation: 'linear' }, // 12·5 + 5 = 65
      ],
      loss: 'cross-entropy',
    }
    const s = netShapes(net)
    assert.deepEqual(s.outputs, [[8, 8, 4], [8, 8, 4], [4, 4, 4], [2, 2, 3], [12], [12], [5]])
    assert.deepEqual(s.params.map((p) => [p.layer, p.name, p.shape, p.offset, p.trainable]), [
      [0, 'kernel', [3, 3, 2, 4], 0, true], [0, 'bias', [4], 72, true],
      [1, 'gamma', [4], 76, true], [1, 'beta', [4], 80, true], [1, 'moving_mean', [4], 84, false], [1, 'moving_variance', [4], 88, false],
      [3, 'kernel', [3, 3, 4, 3], 92, true], [3, 'bias', [3], 200, true],
      [6, 'kernel', [12, 5], 203, true], [6, 'bias', [5], 263, true],
    ])
    assert.equal(s.parameterCount, 268)
    assert.equal(s.features, 200)
    assert.equal(s.classes, 5)
    assert.equal(s.activations, 256 + 256 + 64 + 12 + 12 + 12 + 5)
    assert.equal(s.multiplyAdds, 8 * 8 * 4 * 9 * 2 + 2 * 2 * 3 * 9 * 4 + 12 * 5)
    assert.equal(describeNet(net), '[10, 10, 2] → conv2d 4 3×3 relu → batchNorm → maxPool 2 → conv2d 3 3×3/2 same elu → flatten → dropout 0.5 → dense 5')
  })
})
