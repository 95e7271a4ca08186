import { raceSignal } from 'race-signal'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { TimeoutError } from '@libp2p/interface'
import { CATCH_UP_MIN_BLOCKS_PER_SECOND, CATCH_UP_MIN_BYTES_PER_SECOND, CATCH_UP_TIMEOUT, MAX_SYNC_RANGE } from '../../constants.js'
import type { DatastoreLedger } from '../../ledger.js'
import type { Block } from '../../pb/fabric.js'
import type { RemoteLedger } from '../../sync/remote-ledger.js'
import type { Logger, PeerId } from '@libp2p/interface'

/** A block from a peer that does not extend our chain, or whose state hash is not what executing it gives */
export class InvalidBlockError extends Error {
  static override name = 'InvalidBlockError'
  override name = 'InvalidBlockError'
}

/** What catching up needs from the engine */
export interface CatchUpContext {
  ledger: DatastoreLedger
  log: Logger
  /** The current sequencer; undefined when it is this validator */
  sequencer(): PeerId | undefined
  trusted(peer: PeerId): boolean
  remoteLedger(peer: PeerId): RemoteLedger
  /**
   * Verify and append blocks numbered from `start`, skipping those we have;
   * resolves with how many were appended (0 at a gap).
   *
   * @throws {InvalidBlockError}
   */
  apply(from: PeerId, start: number, blocks: Block[]): Promise<number>
  /** `peer` failed us: pass it over for a while */
  distrust(peer: PeerId, why: string): void
}

interface Claim {
  peer: PeerId
  height: number
  /** The hash of its block height-1, when the claim named it */
  hash?: Uint8Array
}

/**
 * Catching up with what validators say they have (Fabric's state transfer,
 * blocks only). A claim - a validator's height from its hello, or a block
 * number from its sequencer ahead of ours - is a hint: we fetch the blocks
 * through RemoteLedger (a follower checks only its sequencer's claims, from
 * the sequencer; a validator that is the sequencer checks any trusted
 * validator's, from the highest claimer first, then the other claimers),
 * append only blocks that extend our chain and execute to their state
 * hash, and drop a claim nobody backs: the claimer is distrusted. While a
 * claim is being checked the engine does not sequence (it would fork from a
 * chain it has not seen); a claim that is false costs at most
 * CATCH_UP_TIMEOUT per source.
 */
export class CatchUp {
  private readonly ctx: CatchUpContext
  private readonly claims = new Map<string, Claim>()
  private running?: Promise<void>
  private stopped = new AbortController()
  /** Blocks appended by catching up since start */
  appended = 0
  /** The last catch-up that appended blocks: how many, and how long it ran (ms) */
  last?: { blocks: number, ms: number }

  constructor (ctx: CatchUpContext) {
    this.ctx = ctx
  }

  /** A peer says its chain is `height` long */
  claim (peer: PeerId, height: number, hash?: Uint8Array): void {
    if (height <= this.ctx.ledger.height) {
      return
    }

    const known = this.claims.get(peer.toString())

    if (known == null || known.height < height) {
      this.claims.set(peer.toString(), { peer, height, hash: hash != null && hash.byteLength > 0 ? hash : undefined })
    }

    this.check()
  }

  /**
   * Check the claims that count now: a claim whose claimer failed to back it
   * waits (dormant) while its claimer is distrusted, and is checked again when
   * trust returns - a validator that was only unavailable is not forgotten, so
   * we do not sequence below the chain it has
   */
  check (): void {
    if (this.running != null || this.stopped.signal.aborted || this.live().length === 0) {
      return
    }

    if (this.running == null) {
      const began = performance.now()
      const before = this.appended
      this.running = this.run().finally(() => {
        this.running = undefined

        if (this.appended > before) {
          this.last = { blocks: this.appended - before, ms: performance.now() - began }
          this.ctx.log('caught up %d blocks in %d ms', this.last.blocks, Math.round(this.last.ms))
        }
      })
    }
  }

  /** A claim above our height is being checked */
  get active (): boolean {
    return this.running != null
  }

  /** The height the highest live claim names (ours when there is none) */
  get target (): number {
    let best = this.ctx.ledger.height

    for (const claim of this.claims.values()) {
      best = Math.max(best, claim.height)
    }

    return best
  }

  /** Resolves when no claim is being checked; rejects when `signal` aborts first */
  async idle (signal?: AbortSignal): Promise<void> {
    while (this.running != null) {
      await raceSignal(this.running, signal)
    }
  }

  /** The chat with `peer` ended: its claim goes with it */
  drop (peer: PeerId): void {
    this.claims.delete(peer.toString())
  }

  /** Claims held now, dormant ones included (a map bounded by the chats) */
  get size (): number {
    return this.claims.size
  }

  stop (): void {
    this.stopped.abort()
    this.claims.clear()
  }

  private live (): Claim[] {
    const height = this.ctx.ledger.height

    for (const [key, claim] of this.claims) {
      if (claim.height <= height) {
        this.claims.delete(key)
      }
    }

    // a follower takes its sequencer's word only: any other validator's claim
    // waits until that validator is the sequencer (or we are); blocks a
    // validator made up cannot reach a follower past the chain its sequencer has
    const sequencer = this.ctx.sequencer()
    return [...this.claims.values()]
      .filter(claim => this.ctx.trusted(claim.peer) && (sequencer == null || claim.peer.equals(sequencer)))
      .sort((a, b) => b.height - a.height)
  }

  private async run (): Promise<void> {
    // let the caller's turn finish: claims made in one tick are checked together
    await Promise.resolve()

    for (let claims = this.live(); claims.length > 0 && !this.stopped.signal.aborted; claims = this.live()) {
      const target = claims[0]
      // the sequencer asks every validator that claims more than it has (one
      // that did not claim more has nothing it lacks: only the sequencer makes
      // blocks); a follower only the sequencer whose claim it checks
      const sources = this.ctx.sequencer() == null ? claims.map(c => c.peer) : [target.peer]
      let progressed = false

      for (const source of sources) {
        if (!this.ctx.trusted(source) || this.stopped.signal.aborted) {
          continue
        }

        const claimed = this.claims.get(source.toString())

        try {
          const got = await this.fetch(source, target.height)

          if (got > 0) {
            progressed = true
            break
          }

          if (claimed != null && claimed.height > this.ctx.ledger.height) {
            this.ctx.distrust(source, `it claimed height ${claimed.height} but served nothing beyond ${this.ctx.ledger.height}`)
          }
        } catch (err: any) {
          if (this.stopped.signal.aborted) return

          if (err instanceof InvalidBlockError || claimed != null) {
            // a claimer that cannot back its claim, or anyone serving blocks that are not ours to take
            this.ctx.distrust(source, `catching up from it failed: ${err.message}`)
          } else {
            this.ctx.log('%p could not help us catch up - %e', source, err)
          }
        }
      }

      if (!progressed) {
        // nobody backed them: their claimers are distrusted, and the claims
        // wait until trust returns; claims made meanwhile are checked next round
        for (const claim of claims) {
          if (this.ctx.trusted(claim.peer) && claim.height > this.ctx.ledger.height) {
            this.ctx.distrust(claim.peer, `no validator backed its claim of height ${claim.height} (we are at ${this.ctx.ledger.height})`)
          }
        }

        continue
      }

      await this.checkHead(target)
    }
  }

  /** Blocks from our height up to `height - 1` from `source`, a request of MAX_SYNC_RANGE at a time; the number appended */
  private async fetch (source: PeerId, height: number): Promise<number> {
    const remote = this.ctx.remoteLedger(source)
    let total = 0

    while (this.ctx.ledger.height < height && !this.stopped.signal.aborted) {
      const start = this.ctx.ledger.height
      const end = Math.min(height - 1, start + MAX_SYNC_RANGE - 1)
      const began = performance.now()
      let got = 0
      let bytes = 0

      for await (const frame of remote.requestBlocks({ start, end }, { timeout: CATCH_UP_TIMEOUT, signal: this.stopped.signal })) {
        const appended = await this.ctx.apply(source, frame.range?.start ?? start, frame.blocks)
        got += appended
        this.appended += appended
        bytes += frame.blocks.reduce((sum, block) => sum + block.transactions.reduce((n, tx) => n + tx.payload.byteLength, 0), 0)
        const seconds = (performance.now() - began) / 1000

        // a source that trickles (valid blocks, slowly) would keep us "catching up" as long as it likes
        if (seconds * 1000 > CATCH_UP_TIMEOUT && got / seconds < CATCH_UP_MIN_BLOCKS_PER_SECOND && bytes / seconds < CATCH_UP_MIN_BYTES_PER_SECOND) {
          throw new TimeoutError(`${source} served ${got} blocks (${bytes} bytes) in ${seconds.toFixed(1)} s: slower than ${CATCH_UP_MIN_BLOCKS_PER_SECOND} blocks/s and ${CATCH_UP_MIN_BYTES_PER_SECOND} bytes/s`)
        }
      }

      total += got

      if (got === 0) {
        break
      }
    }

    return total
  }

  /** Having reached a claim, the chain must end in the hash it named: if not, the claimer is on another chain */
  private async checkHead (target: Claim): Promise<void> {
    if (target.hash == null || this.ctx.ledger.height < target.height) {
      return
    }

    const ours = this.ctx.ledger.height === target.height
      ? this.ctx.ledger.getBlockchainInfo().currentBlockHash
      : (await this.ctx.ledger.getBlock(target.height))?.previousBlockHash

    if (ours != null && !uint8ArrayEquals(ours, target.hash)) {
      this.ctx.distrust(target.peer, `its block ${target.height - 1} is not ours: another chain (a fork, or a lie)`)
    }
  }
}
