/**
 * Protocol ids, defaults and limits. Defaults follow Fabric v0.6's `core.yaml`
 * where Fabric had a setting; the rest say why they are what they are.
 */

/** The bidirectional Chat stream, Fabric's gRPC `Peer.Chat`. */
export const CHAT_PROTOCOL = '/fabric/chat/1.0.0'

/** One transaction in, one response out: Fabric's gRPC `Peer.ProcessTransaction`. */
export const TRANSACTION_PROTOCOL = '/fabric/transaction/1.0.0'

/** Largest frame accepted or sent: gRPC's default maximum receive size, which bounded Fabric v0.6. */
export const MAX_MESSAGE_SIZE = 4 * 1024 * 1024

/** `peer.discovery.period`: how often each side asks its chats for their peers (DISC_GET_PEERS). */
export const DISCOVERY_PERIOD = 5_000

/** `peer.validator.enabled` */
export const VALIDATOR = true

/** `peer.consensus.buffersize`: frames that may wait in one peer's send queue. */
export const SEND_QUEUE_SIZE = 1_000

/**
 * Received frames buffered for a slow engine before the stream is paused, so a
 * busy node pushes back on the sender (yamux stops granting window) instead of
 * buffering without bound. Reading resumes below half of it.
 */
export const RECEIVE_QUEUE_SIZE = 1_000

/**
 * Frames queued in the same tick are written with one `stream.send()`; a batch
 * is cut at this many bytes so one write never holds much more than a yamux
 * window (256 KiB) in a single buffer.
 */
export const MAX_BATCH_BYTES = 256 * 1024

/** How long a new chat waits for the other side's DISC_HELLO. */
export const HELLO_TIMEOUT = 10_000

/** How long `chatWithPeer` may take to connect and open the stream: libp2p's own dial timeout. */
export const DIAL_TIMEOUT = 10_000

/** How long a graceful close (flush, DISC_DISCONNECT, close) may take before the stream is aborted. */
export const CLOSE_TIMEOUT = 2_000

/**
 * Chat streams per connection, each way. One chat per peer is the rule; the
 * spare room covers a simultaneous-dial twin and a replacement opened while an
 * old stream is still closing.
 */
export const MAX_INBOUND_CHAT_STREAMS = 4
export const MAX_OUTBOUND_CHAT_STREAMS = 4
