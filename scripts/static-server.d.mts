export interface StaticServerOptions {
  /** File served at `/`. */
  page: string;
  /** [URL prefix ending in '/', folder] pairs. */
  mounts: [string, string][];
  /** Extra response headers (e.g. cross-origin isolation). */
  headers?: Record<string, string>;
  onProblem?: (status: number, method: string | undefined, url: string | undefined, why: string) => void;
}
export function startStaticServer(o: StaticServerOptions): Promise<{ url: string; close: () => Promise<void> }>;
