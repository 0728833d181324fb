import {
  TAGS, Writer, bytesEqual, compareBytes, committeeIndexOf, dkgMessageToBytes, dkgSessionId, slotHash, taggedHash,
  thresholdFor, toHex, verifyDkgMessageSignature, verifyThresholdSignature,
  type CoinbaseTx, type HistoryAnchor,
} from '@pouw/protocol'
import { ledgerError } from './errors.js'
import type { ChainParams } from './params.js'

/**
 * MESSAGE_HISTORY on chain (paper 003 §4.2.1, §5.2): a coinbase may carry the supervisors' latest
 * agreed message-history slot (tx.ts HistoryAnchor). The rule is stateless, so every block checks
 * its own anchor in full:
 * - the committee is the chain's verifier federation (params.verification.verifiers, sorted), with
 *   the DKG threshold t = thresholdFor(n);
 * - the DKG_SUCCESSFUL proof: DkgSuccess messages of that committee's DKG session for `attempt`,
 *   each by a committee member, one per member, each Ed25519 signature valid, all with one group
 *   key and one qualified set of at least t members, every qualified member's among them (the
 *   DKG_SUCCESSFUL rule of dkg.ts isDkgComplete). With fewer than t qualified, a single member could make up a "group" key of
 *   its own;
 * - the record's 96-byte BLS threshold signature verifies over its slot hash under that group key.
 * Anything else is LEDGER_BAD_HISTORY. The slot hash covers the previous slot's hash, so one record
 * anchors every slot before it; consensus does not require slots to increase along the chain (the
 * relays put their latest in each template).
 */

/**
 * Group keys of DKG proofs already checked, by a hash of everything checked: the committee, the
 * attempt and every success's full encoding (pure: the same bytes always give the same answer).
 */
const checkedProofs = new Map<string, Uint8Array>()
const CHECKED_MAX = 16

/** The group key a DKG_SUCCESSFUL proof establishes for the chain's committee; throws LEDGER_BAD_HISTORY. */
function groupKeyOf(a: HistoryAnchor, params: ChainParams): Uint8Array {
  const bad = (why: string): never => { throw ledgerError('BAD_HISTORY', `the history anchor's DKG proof: ${why}`) }
  const v = params.verification
  if (v === undefined) return bad('this chain has no supervisor committee')
  const committee = [...v.verifiers].sort(compareBytes)
  const w = new Writer().u32(a.attempt).u16(committee.length)
  for (const k of committee) w.fixed(k, 32)
  for (const s of a.successes) w.varBytes(dkgMessageToBytes(s))
  const id = toHex(taggedHash(TAGS.dkgMessage, w.finish()))
  const cached = checkedProofs.get(id)
  if (cached !== undefined) return cached
  const t = thresholdFor(committee.length)
  const session = dkgSessionId(committee, t, a.attempt)
  const first = a.successes[0]!
  const members = new Set<number>()
  for (const s of a.successes) {
    if (!bytesEqual(s.session, session)) bad(`a success of another session than attempt ${a.attempt} of the chain's committee`)
    const member = committeeIndexOf(committee, s.member)
    if (member === 0) bad(`a success by ${toHex(s.member).slice(0, 16)}, not a member of the chain's committee`)
    if (members.has(member)) bad('two successes by one member')
    members.add(member)
    if (!bytesEqual(s.groupPublicKey, first.groupPublicKey) || s.qualified.join(',') !== first.qualified.join(',')) bad('successes with different group keys or qualified sets')
    if (!verifyDkgMessageSignature(s)) bad(`member ${member}'s success has an invalid signature`)
  }
  if (first.qualified.length < t) bad(`${first.qualified.length} qualified members, the threshold is ${t}`)
  // the DKG_SUCCESSFUL rule (dkg.ts isDkgComplete), on successes the loop above already checked one by one
  if (!first.qualified.every((i) => members.has(i))) bad('not every qualified member\'s success is there')
  if (checkedProofs.size >= CHECKED_MAX) checkedProofs.delete(checkedProofs.keys().next().value!)
  checkedProofs.set(id, first.groupPublicKey)
  return first.groupPublicKey
}

/** Rule: a coinbase's MESSAGE_HISTORY anchor, if any, is the committee's threshold-signed slot (see above). */
export function anchorRule(coinbase: CoinbaseTx, params: ChainParams): void {
  const a = coinbase.history
  if (a === undefined) return
  const groupKey = groupKeyOf(a, params)
  if (!verifyThresholdSignature(groupKey, slotHash(a.record), a.record.signature)) {
    throw ledgerError('BAD_HISTORY', `slot ${a.record.slot}'s threshold signature does not verify under the committee's group key`)
  }
}
