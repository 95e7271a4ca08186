/** The harness could not do what it was asked: a node did not start, answer, or reach a condition in time */
export class HarnessError extends Error {
  override name = 'HarnessError'
}
