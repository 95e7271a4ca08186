/**
 * Errors of our own conditions. Where `@libp2p/interface` has a fitting error
 * (`InvalidMessageError`, `ProtocolError`, `TimeoutError`,
 * `InvalidParametersError`, `NotStartedError`) we use that instead.
 */

/** There is no established chat with the peer a message was addressed to. */
export class NotEstablishedError extends Error {
  static override name = 'NotEstablishedError'
  override name = 'NotEstablishedError'
}

/** The chat stream is closed or closing; nothing more can be sent on it. */
export class ChatClosedError extends Error {
  static override name = 'ChatClosedError'
  override name = 'ChatClosedError'
}

/** The peer's send queue is full (`sendQueueSize`): the peer is not reading fast enough. */
export class SendQueueFullError extends Error {
  static override name = 'SendQueueFullError'
  override name = 'SendQueueFullError'
}

/** A peer broke the Chat protocol (wrong hello, message before hello, bad identity). */
export class PeerRejectedError extends Error {
  static override name = 'PeerRejectedError'
  override name = 'PeerRejectedError'
}

/** The peer sent a frame that cannot be decoded or is larger than maxMessageSize; the stream was aborted. */
export class InvalidFrameError extends Error {
  static override name = 'InvalidFrameError'
  override name = 'InvalidFrameError'
}

/** A peer's answer to a `RemoteLedger` request does not fit the request (wrong numbers, order or size); the request is ended. */
export class InvalidSyncAnswerError extends Error {
  static override name = 'InvalidSyncAnswerError'
  override name = 'InvalidSyncAnswerError'
}
