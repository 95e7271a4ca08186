import type { Counter } from '@libp2p/interface'

/**
 * A peer's message rate on one chat: a fixed one-second window, a counter and
 * a clock read per message (RateLimiter's keyed store cost ~2% of the chat's
 * CPU in P1). Over the limit, the chat stops reading until the window is over.
 */
export class RateWindow {
  private readonly limit: number
  private readonly throttled?: Counter
  private start = 0
  private count = 0

  /**
   * @param limit - messages allowed per second
   * @param throttled - counts the windows in which the peer went over
   */
  constructor (limit: number, throttled?: Counter) {
    this.limit = limit
    this.throttled = throttled
  }

  /** Count one message: 0 to go on, or how many ms to wait first */
  take (now = Date.now()): number {
    if (now - this.start >= 1_000) {
      this.start = now
      this.count = 0
    }

    if (++this.count <= this.limit) {
      return 0
    }

    // the chat then waits out the window, so this happens at most once per window
    this.throttled?.increment()
    return Math.max(1, 1_000 - (now - this.start))
  }
}
