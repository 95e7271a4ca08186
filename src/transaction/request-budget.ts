/**
 * What inbound transaction requests may make a node hold, node-wide and per
 * connection. A request is charged from its stream's opening until its
 * Response is sent: a fixed cost for the stream, then its bytes as they are
 * stored. Memory is counted once it is used, never on a peer's word.
 */
export interface RequestBudgetInit {
  /** Bytes all requests together may hold */
  limit: number
  /** Bytes the requests of one connection may hold, and announce */
  connectionLimit: number
  /** What an open request costs before any byte of it arrives */
  requestCost: number
}

/** A transaction request was refused or aborted because it does not fit in the byte budget */
export class RequestBudgetError extends Error {
  static override name = 'RequestBudgetError'
  override name = 'RequestBudgetError'
  /** The connection's own share was over: not only the node's, which other connections fill */
  readonly ownShare: boolean

  constructor (message: string, ownShare: boolean) {
    super(message)
    this.ownShare = ownShare
  }
}

/** What one request holds; release() once its Response is sent or its stream is gone */
export interface RequestHold {
  /** Bytes this request holds (its cost and its stored bytes) */
  readonly bytes: number
  /**
   * Count `more` bytes stored; nothing after release().
   *
   * @throws {RequestBudgetError} when they would take the connection or the node over its limit (they are not counted then)
   */
  take(more: number): void
  /**
   * The request's length prefix says `more` bytes are to come. Refused now
   * if the connection's requests cannot take them besides what they hold and
   * have announced already; otherwise they are set against the connection's
   * limit (not the node's: a prefix is the peer's word, and only its own
   * connection pays for it) until they arrive.
   *
   * @throws {RequestBudgetError}
   */
  expect(more: number): void
  /** Give back everything this request holds and announced */
  release(): void
}

/** One connection's requests: how many, bytes held, and bytes announced that have not arrived yet */
interface Share {
  requests: number
  held: number
  announced: number
}

/**
 * The bytes held by transaction requests. A connection's requests may hold,
 * and announce, at most `connectionLimit` bytes together; all requests may
 * hold at most `limit`.
 */
export class RequestBudget {
  readonly limit: number
  readonly connectionLimit: number
  readonly requestCost: number
  #held = 0
  readonly #shares = new Map<string, Share>()

  constructor (init: RequestBudgetInit) {
    this.connectionLimit = init.connectionLimit
    // one connection's worth always fits
    this.limit = Math.max(init.limit, init.connectionLimit)
    this.requestCost = init.requestCost
  }

  /** Bytes held by all requests now */
  get held (): number {
    return this.#held
  }

  /** Bytes held by the requests of one connection now */
  heldBy (connectionId: string): number {
    return this.#shares.get(connectionId)?.held ?? 0
  }

  /**
   * Charge a new request on `connectionId` its cost.
   *
   * @throws {RequestBudgetError} when the node or the connection has no room for another request
   */
  open (connectionId: string): RequestHold {
    const share = this.#shares.get(connectionId) ?? { requests: 0, held: 0, announced: 0 }
    this.#shares.set(connectionId, share)
    share.requests++
    let held = 0
    let announced = 0
    let released = false

    const hold: RequestHold = {
      get bytes () {
        return held
      },
      take: (more) => {
        if (released) {
          return
        }

        // bytes announced before are in the connection's share already
        const unannounced = more - Math.min(more, announced)

        const overShare = unannounced > this.connectionRoom(share)

        if (overShare || more > this.limit - this.#held) {
          throw new RequestBudgetError(`transaction request over the byte budget: ${more} more bytes do not fit (${this.describe(share)})`, overShare)
        }

        announced -= more - unannounced
        share.announced -= more - unannounced
        held += more
        share.held += more
        this.#held += more
      },
      expect: (more) => {
        if (released) {
          return
        }

        if (more > this.connectionRoom(share)) {
          throw new RequestBudgetError(`transaction request refused: the ${more} bytes it announces do not fit (${this.describe(share)})`, true)
        }

        announced += more
        share.announced += more
      },
      release: () => {
        if (released) {
          return
        }

        released = true
        share.held -= held
        share.announced -= announced
        this.#held -= held

        if (--share.requests === 0) {
          this.#shares.delete(connectionId)
        }
      }
    }

    try {
      hold.take(this.requestCost)
    } catch (err) {
      hold.release()
      throw err
    }

    return hold
  }

  private connectionRoom (share: Share): number {
    return this.connectionLimit - share.held - share.announced
  }

  /** Where the bytes are, for a refusal's reason */
  private describe (share: Share): string {
    return `this connection's requests hold ${share.held} and announce ${share.announced} more of ${this.connectionLimit} bytes; all requests hold ${this.#held} of ${this.limit}`
  }
}
