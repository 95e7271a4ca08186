/**
 * What the project's own tests, benchmarks and chaos runs add to the harness
 * (`libp2p-fabric-peer/testing`, in src/testing/): network namespaces as a
 * placement, and benchmark traffic (a counting engine, blasts, broadcasts,
 * round trips, a raw-stream baseline) as worker modules.
 */
export { Netns, netnsSupport } from './netns.js'
export type { NetnsHost, NetnsOptions } from './netns.js'
export { CountEngine, RAW_BENCH_PROTOCOL, RAW_ECHO_PROTOCOL, Traffic, trafficNode } from './traffic.js'
