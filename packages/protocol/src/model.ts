import { Reader, Writer } from './bytes.js'
import { protocolError } from './errors.js'

/**
 * A task's network (paper 003 §3.4: the model's layers, activations and loss),
 * a sequence of layers over one input record. Every task has one; the
 * built-in MNIST task's is an MLP (dense layers, relu between).
 *
 * Shapes: an input is [features] (rank 1) or [height, width, channels]
 * (rank 3, channels last, as TensorFlow.js's layers). Convolution and pooling
 * take rank 3, dense takes rank 1 (`flatten` goes between). The last layer is
 * a dense layer of one unit per class with a linear activation: its outputs
 * are the logits, to which the loss (and the exported model) applies softmax.
 *
 * Parameters (the model's θ, one flat float32 array) are laid out layer by
 * layer: dense and conv2d hold their kernel (row-major, [in, out] or
 * [k, k, in channels, filters]) then their bias; batchNorm holds gamma, beta,
 * then the moving mean and moving variance, which are not trained by the
 * gradient but by the batches' moments (momentum BATCH_NORM_MOMENTUM).
 */
export const ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'elu'] as const
export type Activation = (typeof ACTIVATIONS)[number]
export const LOSSES = ['cross-entropy', 'mse'] as const
export type Loss = (typeof LOSSES)[number]
export const PADDINGS = ['valid', 'same'] as const
export type Padding = (typeof PADDINGS)[number]

export type LayerSpec =
  | { kind: 'dense'; units: number; activation: Activation }
  | { kind: 'conv2d'; filters: number; kernel: number; stride: number; padding: Padding; activation: Activation }
  | { kind: 'maxPool' | 'avgPool'; size: number; stride: number }
  | { kind: 'flatten' }
  | { kind: 'dropout'; ratePermille: number }
  | { kind: 'batchNorm' }

export interface NetSpec {
  input: number[] // [features] or [height, width, channels]
  layers: LayerSpec[]
  loss: Loss
}

/**
 * Batch norm's constants, which the exported model names too: Keras's epsilon, and a momentum of
 * 0.9 rather than Keras's 0.99, as a small task here may train for only tens of steps: after 50
 * steps at 0.99 the moving moments are still 60% their start (0 and 1), and the model scores at
 * chance in inference mode (0.9^50 leaves 0.5%).
 */
export const BATCH_NORM_MOMENTUM = 0.9
export const BATCH_NORM_EPSILON = 0.001
export const MAX_NET_LAYERS = 32
export const MAX_LAYER_UNITS = 1 << 16
/**
 * What one network may cost, so that a task definition cannot make a relay
 * that scores its models, or a tab that trains it, run out of memory or time:
 * the parameters (as many as evidence may carry), the values all layers
 * output for one record (what a forward pass keeps per record), and the
 * multiply-adds of one record's forward pass.
 */
export const MAX_NET_PARAMETERS = 1 << 24
/** values per record (features) an input may have, as many as a data set's records may (datasetFromFragments) */
export const MAX_INPUT_VALUES = 1 << 24
export const MAX_NET_ACTIVATIONS = 1 << 22
export const MAX_NET_MULTIPLY_ADDS = 1 << 28

const LAYER_KINDS = ['dense', 'conv2d', 'maxPool', 'avgPool', 'flatten', 'dropout', 'batchNorm'] as const

/** An MLP: dense layers of these sizes [inputs, ...hidden, classes], relu between, softmax cross-entropy. */
export function mlpNet(sizes: readonly number[]): NetSpec {
  return {
    input: [sizes[0]!],
    layers: sizes.slice(1).map((units, i) => ({ kind: 'dense', units, activation: i + 2 < sizes.length ? 'relu' : 'linear' })),
    loss: 'cross-entropy',
  }
}

/** The layer sizes of `net` when it is an MLP as mlpNet builds it, else undefined. */
export function mlpSizes(net: NetSpec): number[] | undefined {
  if (net.input.length !== 1 || net.loss !== 'cross-entropy') return undefined
  const sizes = [net.input[0]!]
  for (const [i, l] of net.layers.entries()) {
    if (l.kind !== 'dense' || l.activation !== (i + 1 < net.layers.length ? 'relu' : 'linear')) return undefined
    sizes.push(l.units)
  }
  return sizes
}

/** One parameter tensor of the network, where it lies in θ. */
export interface ParamSlice {
  layer: number // index into net.layers
  name: 'kernel' | 'bias' | 'gamma' | 'beta' | 'moving_mean' | 'moving_variance'
  shape: number[]
  offset: number
  size: number
  trainable: boolean
}

export interface NetShapes {
  /** each layer's output shape, without the batch axis */
  outputs: number[][]
  /** the values all layers output for one record */
  activations: number
  /** multiply-adds of one record's forward pass (dense and convolution) */
  multiplyAdds: number
  params: ParamSlice[]
  parameterCount: number
  features: number
  classes: number
}

const product = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1)

/**
 * Checks the network's rules and infers its shapes and parameter layout.
 * Throws PROTOCOL_BAD_VALUE naming the first rule broken.
 */
export function netShapes(net: NetSpec): NetShapes {
  const bad = (msg: string): never => { throw protocolError('BAD_VALUE', msg) }
  if (net.input.length !== 1 && net.input.length !== 3) bad(`an input is [features] or [height, width, channels], got rank ${net.input.length}`)
  for (const d of net.input) if (!Number.isInteger(d) || d < 1 || d > MAX_LAYER_UNITS) bad(`input dimension ${d} out of range [1, ${MAX_LAYER_UNITS}]`)
  if (product(net.input) > MAX_INPUT_VALUES) bad(`an input of ${product(net.input)} values, at most ${MAX_INPUT_VALUES}`)
  if (net.layers.length < 1 || net.layers.length > MAX_NET_LAYERS) bad(`a network has 1 to ${MAX_NET_LAYERS} layers, got ${net.layers.length}`)
  if (!LOSSES.includes(net.loss)) bad(`loss ${String(net.loss)} unknown`)
  const outputs: number[][] = []
  const params: ParamSlice[] = []
  let offset = 0
  let activations = 0
  let multiplyAdds = 0
  const add = (layer: number, name: ParamSlice['name'], shape: number[], trainable = true): void => {
    const size = product(shape)
    params.push({ layer, name, shape, offset, size, trainable })
    offset += size
  }
  let shape = [...net.input]
  for (const [i, l] of net.layers.entries()) {
    const at = `layer ${i + 1} (${l.kind})`
    const spatial = (): [number, number, number] => (shape.length === 3 ? (shape as [number, number, number]) : bad(`${at} takes [height, width, channels]; its input is [${shape.join(', ')}]`))
    const window = (size: number, stride: number, padding: Padding): [number, number] => {
      const [h, w] = spatial()
      const name = l.kind === 'conv2d' ? 'kernel' : 'pool size'
      if (!Number.isInteger(size) || size < 1 || size > 32 || !Number.isInteger(stride) || stride < 1 || stride > 32) bad(`${at}: ${name} ${size} and stride ${stride} must be in [1, 32]`)
      const out = (d: number): number => (padding === 'same' ? Math.ceil(d / stride) : Math.floor((d - size) / stride) + 1)
      const [oh, ow] = [out(h), out(w)]
      if (oh < 1 || ow < 1) bad(`${at}: a ${size}×${size} window does not fit its ${h}×${w} input`)
      return [oh, ow]
    }
    const activation = (a: Activation): void => { if (!ACTIVATIONS.includes(a)) bad(`${at}: activation ${String(a)} unknown`) }
    switch (l.kind) {
      case 'dense': {
        if (shape.length !== 1) bad(`${at} takes [features]; its input is [${shape.join(', ')}] (flatten first)`)
        if (!Number.isInteger(l.units) || l.units < 1 || l.units > MAX_LAYER_UNITS) bad(`${at}: units ${l.units} out of range [1, ${MAX_LAYER_UNITS}]`)
        activation(l.activation)
        add(i, 'kernel', [shape[0]!, l.units])
        add(i, 'bias', [l.units])
        multiplyAdds += shape[0]! * l.units
        shape = [l.units]
        break
      }
      case 'conv2d': {
        if (!PADDINGS.includes(l.padding)) bad(`${at}: padding ${String(l.padding)} unknown`)
        const [oh, ow] = window(l.kernel, l.stride, l.padding)
        if (!Number.isInteger(l.filters) || l.filters < 1 || l.filters > 1024) bad(`${at}: filters ${l.filters} out of range [1, 1024]`)
        activation(l.activation)
        add(i, 'kernel', [l.kernel, l.kernel, shape[2]!, l.filters])
        add(i, 'bias', [l.filters])
        multiplyAdds += oh * ow * l.filters * l.kernel * l.kernel * shape[2]!
        shape = [oh, ow, l.filters]
        break
      }
      case 'maxPool':
      case 'avgPool': {
        const [oh, ow] = window(l.size, l.stride, 'valid')
        shape = [oh, ow, shape[2]!]
        break
      }
      case 'flatten':
        if (shape.length === 1) bad(`${at}: its input [${shape.join(', ')}] is flat already`)
        shape = [product(shape)]
        break
      case 'dropout':
        if (!Number.isInteger(l.ratePermille) || l.ratePermille < 1 || l.ratePermille > 900) bad(`${at}: rate ${l.ratePermille}‰ out of range [1, 900]`)
        break
      case 'batchNorm': {
        const c = shape[shape.length - 1]!
        add(i, 'gamma', [c])
        add(i, 'beta', [c])
        add(i, 'moving_mean', [c], false)
        add(i, 'moving_variance', [c], false)
        break
      }
      default:
        bad(`${at}: layer kind unknown`)
    }
    activations += product(shape)
    if (activations > MAX_NET_ACTIVATIONS) bad(`${at}: the layers output ${activations} values per record by here, at most ${MAX_NET_ACTIVATIONS}`)
    if (multiplyAdds > MAX_NET_MULTIPLY_ADDS) bad(`${at}: ${multiplyAdds} multiply-adds per record by here, at most ${MAX_NET_MULTIPLY_ADDS}`)
    if (offset > MAX_NET_PARAMETERS) bad(`${at}: ${offset} parameters by here, at most ${MAX_NET_PARAMETERS}`)
    outputs.push(shape)
  }
  const last = net.layers[net.layers.length - 1]!
  if (last.kind !== 'dense' || last.activation !== 'linear') bad('the last layer is a dense layer with a linear activation, one unit per class (its outputs are the logits)')
  const classes = shape[0]!
  if (classes > 256) bad(`the last layer's ${classes} units are the classes: at most 256 (labels are bytes)`)
  return { outputs, activations, multiplyAdds, params, parameterCount: offset, features: product(net.input), classes }
}

/** u8 rank | rank x u32 dimensions | u8 loss | u8 layers | per layer: u8 kind, then its fields */
export function writeNet(w: Writer, net: NetSpec): void {
  w.u8(net.input.length)
  for (const d of net.input) w.u32(d)
  w.u8(LOSSES.indexOf(net.loss)).u8(net.layers.length)
  for (const l of net.layers) {
    w.u8(LAYER_KINDS.indexOf(l.kind))
    switch (l.kind) {
      case 'dense': w.u32(l.units).u8(ACTIVATIONS.indexOf(l.activation)); break
      case 'conv2d': w.u16(l.filters).u8(l.kernel).u8(l.stride).u8(PADDINGS.indexOf(l.padding)).u8(ACTIVATIONS.indexOf(l.activation)); break
      case 'maxPool': case 'avgPool': w.u8(l.size).u8(l.stride); break
      case 'dropout': w.u16(l.ratePermille); break
      case 'flatten': case 'batchNorm': break
    }
  }
}

/** Reads what writeNet writes and checks it with netShapes (PROTOCOL_BAD_VALUE, PROTOCOL_TOO_LARGE). */
export function readNet(r: Reader): NetSpec {
  const rank = r.u8('input rank')
  if (rank !== 1 && rank !== 3) throw protocolError('BAD_VALUE', `input rank ${rank}, expected 1 or 3`)
  const input: number[] = []
  for (let i = 0; i < rank; i++) input.push(r.u32('input dimension'))
  const loss = r.oneOf(LOSSES, 'loss')
  const n = r.count(MAX_NET_LAYERS, 'layers', 1)
  const layers: LayerSpec[] = []
  for (let i = 0; i < n; i++) {
    const kind = r.oneOf(LAYER_KINDS, 'layer kind')
    switch (kind) {
      case 'dense': layers.push({ kind, units: r.u32('units'), activation: r.oneOf(ACTIVATIONS, 'activation') }); break
      case 'conv2d': layers.push({ kind, filters: r.u16('filters'), kernel: r.u8('kernel'), stride: r.u8('stride'), padding: r.oneOf(PADDINGS, 'padding'), activation: r.oneOf(ACTIVATIONS, 'activation') }); break
      case 'maxPool': case 'avgPool': layers.push({ kind, size: r.u8('pool size'), stride: r.u8('pool stride') }); break
      case 'dropout': layers.push({ kind, ratePermille: r.u16('dropout rate') }); break
      case 'flatten': case 'batchNorm': layers.push({ kind }); break
    }
  }
  const net = { input, layers, loss }
  netShapes(net)
  return net
}

/** A one-line description, e.g. "[28, 28, 1] → conv2d 8 3×3 relu → maxPool 2 → flatten → dense 10". */
export function describeNet(net: NetSpec): string {
  const layer = (l: LayerSpec): string => {
    switch (l.kind) {
      case 'dense': return `dense ${l.units}${l.activation === 'linear' ? '' : ` ${l.activation}`}`
      case 'conv2d': return `conv2d ${l.filters} ${l.kernel}×${l.kernel}${l.stride > 1 ? `/${l.stride}` : ''}${l.padding === 'same' ? ' same' : ''}${l.activation === 'linear' ? '' : ` ${l.activation}`}`
      case 'maxPool': case 'avgPool': return `${l.kind} ${l.size}${l.stride !== l.size ? `/${l.stride}` : ''}`
      case 'dropout': return `dropout ${l.ratePermille / 1000}`
      case 'flatten': case 'batchNorm': return l.kind
    }
  }
  return [`[${net.input.join(', ')}]`, ...net.layers.map(layer)].join(' → ') + (net.loss === 'mse' ? ' (mse)' : '')
}
