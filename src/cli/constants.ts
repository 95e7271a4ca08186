import { TRANSACTION_TIMEOUT } from '../constants.js'

/** Largest admin request body: a transaction's JSON; the wire allows 4 MiB, a hand-typed CLI call needs far less */
export const ADMIN_MAX_BODY = 1024 * 1024

/** An admin request must be answered within this: a transaction's own timeout plus time to write the answer */
export const ADMIN_REQUEST_TIMEOUT = TRANSACTION_TIMEOUT + 5_000

/** Headers of an admin or metrics request must arrive within this (slow-loris guard) */
export const HTTP_HEADERS_TIMEOUT = 5_000

/** How often Node checks HTTP_HEADERS_TIMEOUT and ADMIN_REQUEST_TIMEOUT (its default, 30 s, would let a slow client hold a socket 35 s) */
export const HTTP_TIMEOUT_CHECK_INTERVAL = 1_000

/** How long the CLI waits for a running node's admin API to answer */
export const ADMIN_CLIENT_TIMEOUT = ADMIN_REQUEST_TIMEOUT + 2_000

/** `node start` gives libp2p this long to close chats and save the list before it exits anyway */
export const STOP_TIMEOUT = 20_000

/** Most characters of a peer's own text (a disconnect reason, hello fields) printed on one line */
export const PEER_TEXT_MAX = 200

/**
 * An inbound connection must finish its Noise handshake and muxer selection
 * within this (libp2p's default is 10 s): on a LAN a handshake takes
 * milliseconds, across a continent well under a second, and a socket that
 * says nothing holds a pending slot only this long.
 */
export const HANDSHAKE_TIMEOUT = 3_000

/**
 * Inbound connections still in their handshake, from all hosts together
 * (libp2p's default is 10, which ten silent sockets from one host fill). With
 * libp2p's 5 new connections per second per host and HANDSHAKE_TIMEOUT, one
 * host holds at most 15 of them.
 */
export const PENDING_HANDSHAKES = 64
