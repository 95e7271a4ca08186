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

/** Chats asked for their peers per discovery period (-1: all, as Fabric v0.6) */
export const DISCOVERY_FANOUT = 8

/** `peer.validator.enabled` */
export const VALIDATOR = true

/** `peer.validator.consensus.buffersize`: frames that may wait in one peer's send queue. */
export const SEND_QUEUE_SIZE = 1_000

/**
 * A peer with frames waiting for it and nothing written to it for this long
 * has stopped reading (not merely slower than we write): it is disconnected.
 */
export const SEND_STALL_TIMEOUT = 10_000

/**
 * Bytes that may wait in one peer's send queue: 1000 frames of up to 4 MiB
 * would be 4 GiB per peer. A single frame of any allowed size always fits.
 */
export const SEND_QUEUE_BYTES = 64 * 1024 * 1024

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

/**
 * The largest receive window a muxer may have granted a sender before we pause
 * a stream: yamux's maxStreamWindowSize default (16 MiB). A paused stream must
 * be able to buffer this much without being reset.
 */
export const MAX_MUXER_WINDOW = 16 * 1024 * 1024

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

/** `peer.discovery.persist`: keep the discovery list in the datastore across restarts. */
export const PERSIST = true

/** The datastore key holding the persisted discovery list (a `PeersAddresses`), Fabric's "discovery" key. */
export const DISCOVERY_LIST_KEY = '/fabric/discovery'

/**
 * How long after a change the discovery list is written: changes within this
 * window share one write (v0.6 rewrote it on every connection); a steady stream
 * of changes still writes once per window.
 */
export const PERSIST_DELAY = 1_000

/** `peer.discovery.touchPeriod`: how often the touch loop looks for missing peers. 0 disables it. */
export const TOUCH_PERIOD = 6_000

/** `peer.discovery.touchMaxNodes`: most new dials a touch tick starts. -1 is unlimited. */
export const TOUCH_MAX_NODES = 100

/**
 * Dials in flight at once. Measured on 2 cores: 64 nodes dialing all at once
 * time out their Noise handshakes; a handful at a time converges.
 */
export const TOUCH_CONCURRENCY = 8

/** A non-validator keeps chats with at least this many validators. */
export const MIN_VALIDATORS = 2

/** Most nodes the discovery list holds, whatever peers tell us. */
export const MAX_DISCOVERY_ENTRIES = 10_000

/**
 * Most endpoints accepted in one DISC_PEERS (more is a protocol violation), and
 * most we send: larger than any honest chat count under the role policy.
 */
export const MAX_PEERS_PER_MESSAGE = 2_000

/** Addresses kept per node; gossip beyond this evicts the oldest unconfirmed one. */
export const MAX_ADDRESSES_PER_NODE = 8

/** First wait before redialing a node that failed; doubles per failure, with jitter. */
export const DIAL_BACKOFF_INITIAL = 5_000

/** Longest wait between dials to a failing node. */
export const DIAL_BACKOFF_MAX = 5 * 60_000

/**
 * A node not established, not heard of from any peer and not a root node for
 * this long is dropped from the list (v0.6 retried dead addresses forever).
 */
export const EXPIRE_AFTER = 60 * 60_000

/** Peer store tag on discovery nodes; its value makes the connection pruner keep them. */
export const DISCOVERY_TAG = 'fabric-peer'
export const DISCOVERY_TAG_VALUE = 100

/** Peer store metadata key remembering a node's role across restarts. */
export const PEER_TYPE_METADATA = 'fabric-peer-type'

/** How long a transaction may take end to end: request, forwarding, engine, response. */
export const TRANSACTION_TIMEOUT = 10_000

/** Transaction streams per connection, each way: one request each, so a few in parallel. */
export const MAX_INBOUND_TRANSACTION_STREAMS = 32
export const MAX_OUTBOUND_TRANSACTION_STREAMS = 32

/**
 * Messages per second one peer may make us handle; beyond it its chat is not
 * read until the second is over (backpressure on that peer alone). Far above
 * what a Fabric engine exchanges with one peer, below what a flood can send.
 * Measured with `npm run soak -- --only a`: at 100 000 one peer flooding empty
 * frames took 85% of a core (16.9 CPU-s in 20 s) and grew the node by 269 MB;
 * at 10 000, 2.5 CPU-s and 114 MB.
 */
export const MAX_MESSAGES_PER_SECOND = 10_000

/**
 * Under security every message's signature is verified, ~6-7k per second per
 * core here: the default rate per peer is set below that, so one peer cannot
 * take a core. Set maxMessagesPerSecond to change it.
 */
export const MAX_MESSAGES_PER_SECOND_SECURE = 5_000

/** Signed transactions remembered against replay within maxMessageAge, at most. */
export const MAX_RECENT_TRANSACTIONS = 100_000

/**
 * What a received frame costs in the inbox besides its bytes: the decoded
 * Message's objects and views. Measured: an empty frame (1 byte on the wire)
 * decodes into 459 bytes of heap, so a flood of empty frames is counted at
 * about what it costs, not at the bytes the peer paid.
 */
export const FRAME_COST = 512

/**
 * Frames a chat stream decodes before the hello exchange completes: the
 * exchange needs the peer's DISC_HELLO (and may see its DISC_DISCONNECT).
 * Anything more waits undecoded, with the stream paused.
 */
export const HELLO_RECEIVE_FRAMES = 4

/** Peer store tag on peers with an established chat; libp2p's pruner closes the lowest tag sum first, strangers have none (0). */
export const CHAT_TAG = 'fabric-chat'
/** A validator chat's tag: the peer store's largest value (tags are 0-100), so the consensus mesh is kept last. */
export const CHAT_TAG_VALUE_VALIDATOR = 100
/** A non-validator chat's tag: below a validator's, above a stranger's 0. */
export const CHAT_TAG_VALUE_NON_VALIDATOR = 50
/** A connection with no established chat this long after it opened is a stranger: a hello exchange is one round trip; half of HELLO_TIMEOUT leaves a loaded node room. */
export const CHAT_GRACE = 5_000
/** Share of maxConnections kept free of strangers: 30 of libp2p's 300, as many as one host can open before its first ones are closed at libp2p's inboundConnectionThreshold (5/s for CHAT_GRACE plus a check interval: up to 30). */
export const CONNECTION_RESERVE = 0.1
/** How often the connection count is checked against maxConnections minus the reserve: a stranger outlives its grace by at most this. */
export const CONNECTION_CHECK_INTERVAL = 1_000

/**
 * `security.maxMessageAge` when security is on and it is not given: signed
 * messages and transactions further than this from our clock are refused, and
 * a signed transaction is remembered this long (twice, for clock skew) so a
 * replay is refused. A minute allows for unsynchronised clocks and slow
 * delivery; peers' clocks must agree within it.
 */
export const MAX_MESSAGE_AGE_SECURE = 60_000

/**
 * Bytes all inbound transaction requests together may hold, from their
 * stream's opening until their Response is sent: 16 of the largest, thousands
 * of usual ones. 10 connections × 32 streams of ~4 MiB frames took an unbounded
 * node from 177 to 1597 MB; beyond this a new request is refused instead.
 */
export const MAX_TRANSACTION_REQUEST_BYTES = 64 * 1024 * 1024

/**
 * Bytes one connection's transaction requests may hold (never less than one
 * request of maxMessageSize): the largest request plus room for small ones
 * beside it, so 13 connections, not 2, are needed to fill the node's budget.
 */
export const MAX_TRANSACTION_REQUEST_BYTES_PER_CONNECTION = 5 * 1024 * 1024

/** What an open transaction stream is charged before its bytes: measured 17.7 KB of heap per inbound stream (libp2p, yamux, our handler). */
export const TRANSACTION_REQUEST_COST = 18 * 1024

/**
 * How long a transaction request may take to arrive whole, apart from the
 * transactionTimeout for its answer: the largest (4 MiB) needs 7 Mbit/s, and a
 * request trickling in holds its bytes no longer than this.
 */
export const TRANSACTION_REQUEST_TIMEOUT = 5_000

/**
 * A transaction request's bytes are copied into blocks of this size as they
 * arrive and counted as each is allocated: one yamux window's worth, so a
 * request holds at most this much more than its peer sent.
 */
export const TRANSACTION_REQUEST_BLOCK = 64 * 1024

/**
 * Transaction streams of one connection refused over budget or deadline
 * within TRANSACTION_REFUSAL_WINDOW before the connection itself is closed: a
 * refused stream still costs the bytes its peer had in flight (up to a muxer
 * window), so a peer reopening refused streams is a bandwidth flood; libp2p's
 * 5 new connections a second per host then paces it. An honest client is
 * never refused this often: 64 MiB of requests fit at once.
 */
export const MAX_TRANSACTION_REFUSALS = 16
export const TRANSACTION_REFUSAL_WINDOW = 10_000

/** RemoteLedger requests one chat may have in flight, either way: ours wait for a slot, a peer's beyond it get an empty answer */
export const MAX_SYNC_REQUESTS_IN_FLIGHT = 4

/** Blocks (or state deltas) one SYNC_GET_BLOCKS (SYNC_STATE_GET_DELTAS) is answered with at most; the asker asks again for the rest */
export const MAX_SYNC_RANGE = 1_000

/** Blocks or deltas one SYNC_BLOCKS or SYNC_STATE_DELTAS frame carries at most (a decode limit: tiny blocks cost far more decoded than on the wire) */
export const MAX_SYNC_ITEMS_PER_FRAME = 1_000

/** State entries one SYNC_STATE_SNAPSHOT chunk carries at most */
export const MAX_SNAPSHOT_ENTRIES_PER_FRAME = 10_000

/** Answers the node serves at once, across all peers; more wait their turn */
export const MAX_SYNC_ANSWERS = 8

/** A RemoteLedger request fails when the peer sends nothing for it this long, in ms */
export const SYNC_TIMEOUT = 10_000

/** Bytes of a frame kept for the Message envelope (type, timestamp, signature) around a sync answer */
export const SYNC_ENVELOPE_RESERVE = 1_024

/** Answer frames a request buffers for a consumer that has not taken them before the chat waits for it */
export const SYNC_BUFFERED_FRAMES = 2

/** The reference engine: a forwarded transaction's sequencer must answer within this, in ms, or it is passed over */
export const SEQUENCER_TIMEOUT = 4_000

/** The reference engine: after a sequencer's SUCCESS, its block must reach our ledger within this, in ms, or it is passed over */
export const SEQUENCER_BLOCK_WAIT = 2_000

/** The reference engine: a sequencer that refused this many transactions in a row, over at least SEQUENCER_REFUSAL_TIME, with no block from it in between, is passed over */
export const SEQUENCER_REFUSALS = 3

/** See SEQUENCER_REFUSALS: a sequencer refusing for a moment (catching up, settling) is not passed over; one refusing for this long is, in ms */
export const SEQUENCER_REFUSAL_TIME = 10_000

/** The reference engine: how long a peer that failed us (a claim it could not back, a block it did not deliver) is passed over the first time, in ms; each failure after it doubles the time, up to MAX_DISTRUST_TIME */
export const DISTRUST_TIME = 60_000

/** See DISTRUST_TIME */
export const MAX_DISTRUST_TIME = 60 * 60_000

/** The reference engine: a catch-up source that sends nothing for this long, in ms, is given up on */
export const CATCH_UP_TIMEOUT = 3_000

/** The reference engine: a catch-up source slower than this (blocks a second, and bytes a second) over a request that lasted more than CATCH_UP_TIMEOUT is given up on: trickling cannot keep a validator "catching up" */
export const CATCH_UP_MIN_BLOCKS_PER_SECOND = 20
export const CATCH_UP_MIN_BYTES_PER_SECOND = 256 * 1024

/** The reference engine: how long a transaction waits for a catch-up in progress before it is refused, in ms (well under SEQUENCER_TIMEOUT: a sequencer that keeps its forwarders waiting longer is passed over) */
export const CATCH_UP_WAIT = 2_000

/** The reference engine: how long the sequencer waits for a new block to reach the validators' streams, in ms; a validator that did not take it is not waited for again until it has */
export const FLUSH_TIMEOUT = 1_000

/** A peer that takes no frame of an answer for this long, in ms, loses the answer (and the turn others wait for) */
export const SYNC_ANSWER_STALL = 2_000

/** State snapshots served at once, node-wide (a snapshot is the whole state); more are answered empty */
export const MAX_SNAPSHOT_ANSWERS = 1

/** Blocks (or deltas) an answer reads from the ledger ahead of sending them, at most (fewer when they are large: about a frame's worth) */
export const SYNC_READ_AHEAD = 8

/** Of the MAX_SYNC_ANSWERS answer turns, these are kept for validators: any number of non-validators cannot crowd out a catching-up validator */
export const SYNC_VALIDATOR_TURNS = 4

/** The share of the discovery list one peer's gossip may fill (nodes it named that nobody has confirmed since) */
export const GOSSIP_SHARE = 1 / 8

/** See GOSSIP_SHARE: at least this many, for small lists */
export const GOSSIP_SHARE_MIN = 64

/** The window in which one peer's gossip may add at most a quarter of its share (GOSSIP_SHARE) of new nodes */
export const GOSSIP_PERIOD = 60_000

/** See GOSSIP_PERIOD: at least this many, for small lists */
export const GOSSIP_PERIOD_MIN = 16

/**
 * What a gossiped node whose dial proved it bogus costs the peer that named
 * it, in entries of its share: nothing listening, another peer answering, or
 * no chat protocol. A dial that merely timed out costs GOSSIP_FAILED_COST (our
 * own load can time dials out). A peer whose costs reach its share has its
 * unconfirmed nodes dropped and its gossip refused until they expire.
 */
export const GOSSIP_BOGUS_COST = 8
export const GOSSIP_FAILED_COST = 2

/** How long a peer's gossip costs count after the last one */
export const GOSSIP_PENALTY_TTL = 10 * 60_000

/** Dials per second to nodes only gossip vouches for, in all (a burst of as many) */
export const GOSSIP_DIAL_RATE = 10

/** ...and to any one host (IP address or DNS name): gossip cannot aim the node's dials at a host */
export const GOSSIP_HOST_DIAL_RATE = 4

/**
 * The bursts those rates allow after a quiet while, in all and to one host: a
 * node joining a mesh learns a few dozen nodes at once (the dials a tick
 * makes are still at most touchMaxNodes). With bursts of the rates themselves
 * a 32-validator mesh on one host formed in 8-9 s instead of 6 (P5).
 */
export const GOSSIP_DIAL_BURST = 32
export const GOSSIP_HOST_DIAL_BURST = 16

/** Peer store metadata key holding a discovery node's state (JSON: addresses, failures, next dial, last seen, source) */
export const DISCOVERY_STATE_METADATA = 'fabric-discovery'

