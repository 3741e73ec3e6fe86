/** What a tunnel environment needs of the outside world to talk to the services. */
export interface ServiceDeps {
  /** The process environment, as a lookup (service URLs, credentials, conf directory). */
  env: (name: string) => string | undefined;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** fetch, replaceable so a test can count requests. */
  fetch: typeof fetch;
}
