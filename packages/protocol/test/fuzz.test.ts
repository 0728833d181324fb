/**
 * Fuzz: random byte strings and random mutations of valid encodings, fed to
 * every decoder. A decoder only ever throws a PouwError with a PROTOCOL_*
 * code (never a RangeError or TypeError), finishes quickly, and whatever it
 * accepts re-encodes to exactly the input (the encodings are canonical).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HEADER_SIZE, isPouwError, targetFromBits } from '../src/index.js'
import {
  randomBlock, randomEvidence, randomItRes, randomSubmission, randomTask, randomTx, randomVerdict,
} from './generators.js'
import { Prng, decodeOrOurError, hex, readVectors, unhex } from './helpers.js'
import { KINDS, type EncodingVectors, type Kind, type KindName } from './vectorJson.js'

const NAMES = Object.keys(KINDS) as KindName[]
const kindOf = (n: KindName): Kind<unknown, unknown> => KINDS[n] as unknown as Kind<unknown, unknown>

/** Feeds `bytes` to every decoder; an accepted input must re-encode to itself. */
function feedAll(bytes: Uint8Array, origin: string): number {
  let accepted = 0
  for (const name of NAMES) {
    const k = kindOf(name)
    const x = decodeOrOurError(k.decode, bytes, `${name} decoder (${origin})`)
    if (x === null) continue
    accepted++
    assert.equal(hex(k.encode(x)), hex(bytes), `${name} accepted a non-canonical encoding (${origin})`)
  }
  return accepted
}

/** valid encodings to mutate: every frozen vector plus random objects of each kind */
function corpus(): { name: KindName; bytes: Uint8Array }[] {
  const out: { name: KindName; bytes: Uint8Array }[] = []
  for (const name of NAMES) {
    for (const v of readVectors<EncodingVectors>(name).valid) out.push({ name, bytes: unhex(v.bytes) })
  }
  const rng = new Prng(0xc0ffee)
  for (let i = 0; i < 10; i++) {
    out.push(
      { name: 'itres', bytes: KINDS.itres.encode(randomItRes(rng, 20)) },
      { name: 'tx', bytes: KINDS.tx.encode(randomTx(rng)) },
      { name: 'block', bytes: KINDS.block.encode(randomBlock(rng)) },
      { name: 'task', bytes: KINDS.task.encode(randomTask(rng)) },
      { name: 'evidence', bytes: KINDS.evidence.encode(randomEvidence(rng)) },
      { name: 'submission', bytes: KINDS.submission.encode(randomSubmission(rng)) },
      { name: 'verdict', bytes: KINDS.verdict.encode(randomVerdict(rng)) },
    )
  }
  return out
}

const BIG = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 2 ** 16, 2 ** 21, 2 ** 21 + 1, 2 ** 24, 2 ** 30, 2 ** 31, 0xffff_ffff]

function mutate(rng: Prng, input: Uint8Array): Uint8Array {
  let b = input.slice()
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const at = b.length === 0 ? 0 : rng.int(b.length)
    switch (rng.int(8)) {
      case 0: if (b.length > 0) b[at] = b[at]! ^ (1 << rng.int(8)); break // flip a bit
      case 1: if (b.length > 0) b[at] = rng.u32() & 0xff; break // random byte
      case 2: b = b.slice(0, at); break // truncate
      case 3: { const ins = rng.bytes(1 + rng.int(8)); b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]); break } // insert
      case 4: b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(Math.min(b.length, at + 1 + rng.int(8)))]); break // delete
      case 5: { // a length or count field claims something else
        const v = rng.pick(BIG)
        const width = rng.pick([1, 2, 4])
        for (let i = 0; i < width && at + i < b.length; i++) b[at + i] = (v >>> (8 * (width - 1 - i))) & 0xff
        break
      }
      case 6: { const len = 1 + rng.int(16); b = Uint8Array.from([...b.subarray(0, at + len), ...b.subarray(at, at + len), ...b.subarray(at + len)]); break } // duplicate
      case 7: b = Uint8Array.from([...b, ...rng.bytes(1 + rng.int(4))]); break // append
    }
  }
  return b
}

describe('fuzz: decoders only ever throw PouwError', { timeout: 20_000 }, () => {
  it('2,000 random byte strings, to every decoder', () => {
    const rng = new Prng(0xf022)
    let accepted = 0
    for (let i = 0; i < 2000; i++) {
      const len = rng.pick([rng.int(16), rng.int(200), rng.int(3000), HEADER_SIZE, HEADER_SIZE + 4 + rng.int(100)])
      const b = rng.bytes(len)
      // half of them look like version 1 of something, so decoding gets past the first field
      if (rng.bool() && b.length >= 4) b.set(rng.pick([[0, 1], [0, 0, 0, 1], [0, 1, 0, 1]]), 0)
      accepted += feedAll(b, `random #${i}`)
    }
    assert.ok(accepted > 0, 'some random header-sized strings decode as headers')
  })

  it('2,000 random mutations of valid encodings, to every decoder', () => {
    const rng = new Prng(0x3a7e)
    const seeds = corpus()
    const perKind = new Map<KindName, { accepted: number; refused: number }>()
    for (let i = 0; i < 2000; i++) {
      const seed = seeds[i % seeds.length]!
      const b = mutate(rng, seed.bytes)
      feedAll(b, `mutation #${i} of a ${seed.name}`)
      const own = decodeOrOurError(kindOf(seed.name).decode, b, seed.name)
      const s = perKind.get(seed.name) ?? { accepted: 0, refused: 0 }
      if (own === null) s.refused++
      else s.accepted++
      perKind.set(seed.name, s)
    }
    // the fuzzer reaches both outcomes for every kind
    for (const [name, s] of perKind) assert.ok(s.refused > 0 && s.accepted > 0, `${name}: ${JSON.stringify(s)}`)
  })

  it('targetFromBits on 20,000 random u32 either returns a 256-bit target or throws PouwError', () => {
    const rng = new Prng(0xb175)
    for (let i = 0; i < 20_000; i++) {
      const bits = rng.u32()
      try {
        const t = targetFromBits(bits)
        assert.ok(t >= 0n && t < 1n << 256n)
      } catch (e) {
        assert.ok(isPouwError(e) && e.code === 'PROTOCOL_BAD_VALUE', String(e))
      }
    }
  })
})

describe('oversize claims', () => {
  it('a count or length claim is refused before anything of that size is allocated', () => {
    const kinds = ['itres', 'block', 'evidence', 'submission', 'tx', 'verdict', 'task'] as const
    const claims = kinds.flatMap((n) => readVectors<EncodingVectors>(n).invalid
      .filter((v) => /count|length/.test(v.name))
      .map((v) => ({ decode: kindOf(n).decode, bytes: unhex(v.bytes), name: `${n}: ${v.name}`, error: v.error })))
    assert.ok(claims.length >= 20, `${claims.length} claims`)
    // Spy on the one constructor a decoder sizes from a count (the IT_RES map);
    // every other allocation is a slice of the input, bounds-checked first.
    const Real = globalThis.Uint32Array
    const sizes: number[] = []
    globalThis.Uint32Array = new Proxy(Real, {
      construct(target, args: unknown[]) {
        if (typeof args[0] === 'number') sizes.push(args[0])
        return Reflect.construct(target, args) as object
      },
    })
    const start = performance.now()
    try {
      for (let round = 0; round < 200; round++) {
        for (const c of claims) {
          assert.throws(() => c.decode(c.bytes), (e: unknown) => isPouwError(e) && e.code === c.error, c.name)
        }
      }
    } finally {
      globalThis.Uint32Array = Real
    }
    // 200 rounds of claims up to 2^32 entries: milliseconds when nothing is allocated
    assert.ok(performance.now() - start < 5_000, `${performance.now() - start} ms`)
    assert.ok(sizes.length > 0 && sizes.every((n) => n <= 16), `Uint32Array sizes allocated: ${[...new Set(sizes)].join(', ')}`)
  })
})
