import { multiaddr } from '@multiformats/multiaddr'
import { PeerEndpoint } from '../pb/fabric.js'
import type { FabricPeer } from '../index.js'
import type { Libp2p } from '@libp2p/interface'

/** The longest wait between two rounds of dials to root nodes whose PeerId is not known yet */
const MAX_WAIT = 30_000
const DIAL_TIMEOUT = 10_000

/**
 * Root nodes given as Fabric gave them, without a PeerId (`vp0:7051`): dial
 * each (libp2p learns the PeerId in the Noise handshake) until it answers,
 * then add it to discovery as a root node with that PeerId and chat with it.
 * Whoever answers at the address is taken, as Fabric took whoever answered
 * there; a root node named with /p2p/<PeerId> is checked. Retries back off to
 * MAX_WAIT; `close()` stops them.
 */
export function resolveRootNodes (node: Libp2p<{ fabric: FabricPeer }>, addresses: string[], report: (line: string) => void): { close(): Promise<void> } {
  const controller = new AbortController()
  const pending = new Set(addresses)

  const run = async (): Promise<void> => {
    for (let wait = 1_000; pending.size > 0 && !controller.signal.aborted; wait = Math.min(2 * wait, MAX_WAIT)) {
      for (const address of [...pending]) {
        try {
          const connection = await node.dial(multiaddr(address), { signal: AbortSignal.any([controller.signal, AbortSignal.timeout(DIAL_TIMEOUT)]) })
          const named = `${address}/p2p/${connection.remotePeer}`
          node.services.fabric.discovery.addNode(named, PeerEndpoint.Type.UNDEFINED, true)
          pending.delete(address)
          report(`root node ${address} is ${connection.remotePeer.toString()}`)
          void node.services.fabric.chatWithPeer(named).catch(() => {
            // the touch loop tries again
          })
        } catch {
          // not up yet: the next round
        }
      }

      if (pending.size > 0) {
        await new Promise<void>(resolve => {
          const timer = setTimeout(resolve, wait)
          controller.signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
        })
      }
    }
  }

  const done = run()
  return {
    close: async () => {
      controller.abort()
      await done
    }
  }
}
