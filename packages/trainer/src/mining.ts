import {
  BlockHeader, NONCE_OFFSET, TAGS, hashMeetsTarget, headerToBytes, taggedHasher,
  float32Bytes, messageMapToBytes, MessageMap, nonceFromPrecursor, taggedHashAsync, targetFromBits,
} from '@pouw/protocol'

/**
 * Algorithm 2: nonce precursor = H(theta'' | Delta(l)), nonce = H(precursor).
 * Delta(l) is carried by its message map (with tau from the task, the map
 * determines Delta exactly), so we hash the map's wire bytes.
 */
export async function computeNonce(thetaAfter: Float32Array, map: MessageMap): Promise<{ precursor: Uint8Array; nonce: Uint8Array }> {
  const precursor = await taggedHashAsync(TAGS.noncePrecursor, float32Bytes(thetaAfter), messageMapToBytes(map))
  return { precursor, nonce: nonceFromPrecursor(precursor) }
}

/**
 * Try nonce + j for j in [0, count): returns the first header (and its hash)
 * that meets the target, or null. `header` carries every other field.
 */
export function mineWithNonces(header: BlockHeader, nonce: Uint8Array, count: number): { header: BlockHeader; hash: Uint8Array; j: number } | null {
  const target = targetFromBits(header.bits)
  const bytes = headerToBytes(header)
  // The tag prefix and the first 64 header bytes are the same for every
  // candidate: absorb them once (SHA-256 processes 64-byte blocks).
  const base = taggedHasher(TAGS.blockHeader, bytes.subarray(0, 64))
  const tail = bytes.slice(64)
  const candidate = nonce.slice()
  for (let j = 0; j < count; j++) {
    tail.set(candidate, NONCE_OFFSET - 64)
    const hash = base.clone().update(tail).digest()
    if (hashMeetsTarget(hash, target)) return { header: { ...header, nonce: candidate.slice() }, hash, j }
    incrementBigEndian(candidate)
  }
  return null
}

/** x = x + 1 mod 2^(8 * x.length), in place: Algorithm 2's nonce + j, one step at a time. */
function incrementBigEndian(x: Uint8Array): void {
  for (let i = x.length - 1; i >= 0; i--) {
    x[i] = (x[i]! + 1) & 0xff
    if (x[i] !== 0) return
  }
}
