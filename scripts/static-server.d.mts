export interface StaticServerOptions {
  /** File served at `/`. */
  page: string;
  /** [URL prefix ending in '/', folder] pairs. */
  mounts: [string, string][];
  /** Extra response headers (e.g. cross-origin isolation). */
  headers?: Record<string, string>;
  onProblem?: (status: number, method: string | undefined, url: string | undefined, why: string) => void;
  /** Every request once answered: method, decoded path, HTTP status. */
  onRequest?: (method: string | undefined, pathname: string, status: number) => void;
  /** Port to listen on (127.0.0.1); default 0, a free one. */
  port?: number;
}
export function startStaticServer(o: StaticServerOptions): Promise<{ url: string; close: () => Promise<void> }>;
