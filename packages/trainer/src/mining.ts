import {
  BlockHeader, NONCE_OFFSET, TAGS, addToNonce, hashMeetsTarget, headerHashFromBytes, headerToBytes,
  float32Bytes, messageMapToBytes, MessageMap, taggedHash, taggedHashAsync, targetFromBits,
} from '@pouw/protocol'

/**
 * Algorithm 2: nonce precursor = H(theta'' | Delta(l)), nonce = H(precursor).
 * Delta(l) is carried by its message map (with tau from the task, the map
 * determines Delta exactly), so we hash the map's wire bytes.
 */
export async function computeNonce(thetaAfter: Float32Array, map: MessageMap): Promise<{ precursor: Uint8Array; nonce: Uint8Array }> {
  const precursor = await taggedHashAsync(TAGS.noncePrecursor, float32Bytes(thetaAfter), messageMapToBytes(map))
  return { precursor, nonce: taggedHash(TAGS.nonce, precursor) }
}

/**
 * Try nonce + j for j in [0, count): returns the first header (and its hash)
 * that meets the target, or null. `header` carries every other field.
 */
export function mineWithNonces(header: BlockHeader, nonce: Uint8Array, count: number): { header: BlockHeader; hash: Uint8Array; j: number } | null {
  const target = targetFromBits(header.bits)
  const bytes = headerToBytes(header)
  for (let j = 0; j < count; j++) {
    const candidate = addToNonce(nonce, j)
    bytes.set(candidate, NONCE_OFFSET)
    const hash = headerHashFromBytes(bytes)
    if (hashMeetsTarget(hash, target)) return { header: { ...header, nonce: candidate }, hash, j }
  }
  return null
}
