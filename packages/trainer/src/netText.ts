import { ACTIVATIONS, type Activation, type LayerSpec } from '@pouw/protocol'
import { dataPrepError } from './data/index.js'

/**
 * The client page's way to write a network's hidden layers: one layer per
 * comma or line, e.g. "conv 8 3 relu, maxpool 2, flatten, dense 64 relu,
 * dropout 0.2". A bare number is a dense layer with relu ("32, 16").
 *
 *   dense UNITS [ACTIVATION]
 *   conv FILTERS KERNEL [stride S] [same|valid] [ACTIVATION]
 *   maxpool SIZE [stride S] | avgpool SIZE [stride S]   (stride defaults to SIZE)
 *   flatten | batchnorm | dropout RATE                  (RATE in (0, 0.9], to 0.001)
 *
 * ACTIVATION is linear (the default), relu, sigmoid, tanh or elu. Throws
 * DATA_BAD_PARAMS naming the layer and what is wrong; the shapes are checked
 * by the task definition (protocol netShapes).
 */
export function parseLayers(text: string): LayerSpec[] {
  const parts = text.split(/[,\n]/).map((p) => p.trim()).filter((p) => p !== '')
  return parts.map((part, i) => {
    const fail = (why: string): never => { throw dataPrepError('BAD_PARAMS', `layer ${i + 1} ("${part}"): ${why}`) }
    const words = part.toLowerCase().split(/\s+/)
    const int = (w: string | undefined, what: string): number => {
      if (w === undefined || !/^\d+$/.test(w)) fail(`${what} must be a whole number, got ${w ?? 'nothing'}`)
      return Number(w)
    }
    let activation: Activation = 'linear'
    let stride: number | undefined
    let padding: 'valid' | 'same' = 'valid'
    const options = (from: number, allowed: { activation?: boolean; padding?: boolean; stride?: boolean }): void => {
      for (let j = from; j < words.length; j++) {
        const w = words[j]!
        if (allowed.stride === true && w === 'stride') stride = int(words[++j], 'the stride')
        else if (allowed.padding === true && (w === 'same' || w === 'valid')) padding = w
        else if (allowed.activation === true && (ACTIVATIONS as readonly string[]).includes(w)) activation = w as Activation
        else fail(`"${w}" is not an option here`)
      }
    }
    const [kind] = words
    if (/^\d+$/.test(kind!)) {
      options(1, {})
      return { kind: 'dense', units: int(kind, 'units'), activation: 'relu' }
    }
    switch (kind) {
      case 'dense':
        options(2, { activation: true })
        return { kind: 'dense', units: int(words[1], 'units'), activation }
      case 'conv': case 'conv2d':
        options(3, { activation: true, padding: true, stride: true })
        return { kind: 'conv2d', filters: int(words[1], 'filters'), kernel: int(words[2], 'the kernel size'), stride: stride ?? 1, padding, activation }
      case 'maxpool': case 'avgpool': {
        const size = int(words[1], 'the pool size')
        options(2, { stride: true })
        return { kind: kind === 'maxpool' ? 'maxPool' : 'avgPool', size, stride: stride ?? size }
      }
      case 'flatten':
        options(1, {})
        return { kind: 'flatten' }
      case 'batchnorm':
        options(1, {})
        return { kind: 'batchNorm' }
      case 'dropout': {
        const rate = Number(words[1])
        options(2, {})
        if (!(rate > 0 && rate <= 0.9)) fail(`the rate must be in (0, 0.9], got ${words[1] ?? 'nothing'}`)
        const ratePermille = Math.round(rate * 1000)
        if (ratePermille < 1) fail('the rate must be at least 0.001')
        return { kind: 'dropout', ratePermille }
      }
      default:
        return fail('a layer is dense, conv, maxpool, avgpool, flatten, batchnorm or dropout')
    }
  })
}
