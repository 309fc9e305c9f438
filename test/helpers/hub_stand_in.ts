import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  acceptsRevision,
  registerStand,
  sha256Hex,
  statedEtag,
  storeRepo,
  type StandInRepo,
  type StoredFile,
  type StoredRepo,
} from './hub_repo_store.js';

export type { StandInRepo } from './hub_repo_store.js';
export { prefillHfCache } from './hf_cache_prefill.js';

// A local stand-in for the Hugging Face Hub's file-download HTTP behaviour, for tests that cannot
// reach the Hub. Two servers on 127.0.0.1: the Hub itself (resolve URLs, errors, redirects) and a
// "CDN" on another port, so another origin, that serves LFS content from presigned URLs.
//
// What it follows, read in huggingface_hub (src/huggingface_hub/...) and huggingface.js
// (packages/hub/src/lib/...):
// - constants.py HUGGINGFACE_CO_URL_TEMPLATE `{endpoint}/{repo_id}/resolve/{revision}/{filename}`;
//   file_download.py hf_hub_url quotes the revision with safe="" (refs/pr/1 -> refs%2Fpr%2F1) and
//   the filename with "/" kept.
// - file_download.py get_hf_file_metadata: HEAD without following redirects except relative ones
//   (utils/_http.py _httpx_follow_relative_redirects_with_backoff); commit from X-Repo-Commit; etag
//   from X-Linked-Etag, else ETag (_normalize_etag strips W/ and quotes); size from X-Linked-Size,
//   else Content-Length unless the answer is a redirect; the download URL is the Location.
// - file_download.py _get_metadata_or_catch_error: when the Location is on another host the
//   Authorization header is dropped (the CDN URL is presigned); on EntryNotFound it reads
//   X-Repo-Commit from the error answer (to write .no_exist/{commit}/{path}).
// - file_download.py http_get: resumes with `Range: bytes=N-` after a dropped connection and
//   expects 206; a 200 to a ranged request means the Range was ignored and the file restarts;
//   the size comes from Content-Range's total, else Content-Length; a final size differing from
//   the expected one is a "Consistency check failed".
// - utils/_http.py hf_raise_for_status: X-Error-Code RevisionNotFound, EntryNotFound, GatedRepo,
//   RepoNotFound (and any 401 on a repo URL) pick the error class; X-Error-Message and the JSON
//   body's "error" are the server's message (_format).
// - huggingface.js file-download-info.ts fileDownloadInfo: GET with `Range: bytes=0-0`, redirects
//   followed (a browser cannot stop at a cross-origin redirect and read it), size from the
//   Content-Range total, etag from X-Linked-ETag else ETag; 404 with X-Error-Code EntryNotFound
//   means "no such file". error.ts createApiError reads "error" from a JSON body.
//
// Where it differs from the Hub, knowingly:
// - No Xet: no X-Xet-Hash / Link headers, so clients take the plain LFS path (huggingface_hub
//   does the same when hf_xet is not installed: it follows the Location).
// - No gzip: the Hub may answer a text file with Content-Encoding: gzip and no Content-Length when
//   the client accepts it (http_get's comment); the stand-in always sends identity.
// - Any bearer token is a valid user's: never the Hub's 401 "Invalid credentials in Authorization
//   header" for an unknown token.
// - Access-Control-Allow-Origin "*" where the Hub echoes the page's origin.
// - Revisions: the branch, the full commit and the tags; no abbreviated commits. An unencoded
//   "refs/pr/1" in the URL is read as revision "refs" (clients must encode, as hf_hub_url does).
// - Error message texts are those quoted in huggingface_hub's docs and user reports; clients
//   should key on X-Error-Code and the status, as hf_raise_for_status does.

export type Fault =
  /** Body cut (socket ended) after N bytes; Content-Length still the full size; `times` default 1. */
  | { kind: 'truncate'; file: string; afterBytes: number; times?: number }
  /** The stated size (X-Linked-Size, Content-Length on HEAD, Content-Range's total) is one more than the body. */
  | { kind: 'wrong-size'; file: string }
  /** The stated hash (X-Linked-Etag and the CDN's ETag; ETag for a regular file) does not match the body. */
  | { kind: 'wrong-hash'; file: string }
  /** Sends N bytes then nothing, socket kept open until close() or stallMs; `times` default 1. */
  | { kind: 'stall'; file: string; afterBytes: number; times?: number }
  /** The next `times` (default 1) requests for the file, on either server, answer this status. */
  | { kind: 'status'; file: string; status: number; times?: number }
  /** Range ignored: 200 with the full body, no Accept-Ranges. */
  | { kind: 'no-range'; file: string };

export interface RecordedRequest {
  server: 'hub' | 'cdn';
  method: string;
  /** The request target as sent: path and query string, still percent-encoded. */
  path: string;
  /** Lower-cased names, as Node reports them; repeated headers joined with ", ". */
  headers: Record<string, string | undefined>;
}

export interface HubStandIn {
  /** "http://127.0.0.1:PORT": the Hub endpoint (HF_ENDPOINT / hubUrl). */
  url: string;
  /** A second server, another origin, serving LFS content as the Hub's CDN does. */
  cdnUrl: string;
  /** Every request to both servers, in arrival order. */
  requests: RecordedRequest[];
  addRepo(repo: StandInRepo): void;
  /** Replaces the current faults (and their remaining counts). */
  setFaults(faults: Fault[]): void;
  /** The ETag the Hub states for the file when no fault is set (unquoted): sha256 for LFS, git blob sha1 otherwise. */
  etagOf(id: string, path: string): string;
  commitOf(id: string): string;
  /** Closes both servers, destroying open and stalled sockets; idempotent. */
  close(): Promise<void>;
}

// Headers a browser script may read cross-origin. The Hub's own list (seen in huggingface_hub's
// recorded test responses, tests/cassettes) is X-Repo-Commit, X-Request-Id, X-Error-Code,
// X-Error-Message, X-Total-Count, ETag, Link, Accept-Ranges, Content-Range and the X-Xet-* ones;
// X-Linked-Etag, X-Linked-Size and Content-Length are added here as the brief asks (a browser
// never sees the 302 that carries X-Linked-* anyway; Content-Length is safelisted).
const EXPOSED = [
  'X-Repo-Commit', 'X-Linked-Etag', 'X-Linked-Size', 'ETag', 'Content-Range', 'Accept-Ranges',
  'X-Error-Code', 'X-Error-Message', 'X-Request-Id', 'Content-Length', 'Content-Disposition',
].join(', ');

const CORS: OutgoingHttpHeaders = {
  // The Hub echoes the page's origin with `Vary: Origin`; "*" serves a test page equally well.
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': EXPOSED,
};

const PREFLIGHT: OutgoingHttpHeaders = {
  ...CORS,
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization, Range, Content-Type',
  'Access-Control-Max-Age': '86400',
};

interface ActiveFault { fault: Fault; left: number }

function contentTypeOf(path: string): string {
  // The Hub answers a resolve of a small text file as text/plain (not application/json).
  return /\.(json|md|txt|py|yaml|yml|gitattributes)$/.test(path) ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

function headersOf(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : undefined;
}

type Range = { kind: 'none' } | { kind: 'bad' } | { kind: 'ok'; start: number; end: number };

/** One `bytes=` range (N-, N-M or -S) against `size`. Several ranges or other units: ignored, as RFC 9110 allows. */
function parseRange(header: string | undefined, size: number): Range {
  if (header === undefined) return { kind: 'none' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: 'bad' };
    return { kind: 'ok', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return { kind: 'none' };
  if (start >= size) return { kind: 'bad' };
  return { kind: 'ok', start, end };
}

class StandIn implements HubStandIn {
  url = '';
  cdnUrl = '';
  requests: RecordedRequest[] = [];
  private repos = new Map<string, StoredRepo>();
  private renamed = new Map<string, string>();
  private faults: ActiveFault[] = [];
  private sockets = new Set<Socket>();
  private timers = new Set<NodeJS.Timeout>();
  private hub: Server;
  private cdn: Server;
  private closing: Promise<void> | undefined;
  private readonly signKey = randomBytes(16);
  private requestCount = 0;

  constructor(private readonly stallMs: number) {
    this.hub = createServer((req, res) => this.onHub(req, res));
    this.cdn = createServer((req, res) => this.onCdn(req, res));
    for (const server of [this.hub, this.cdn]) {
      server.on('connection', (socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
    }
  }

  async listen(): Promise<void> {
    const listen = (server: Server) => new Promise<string>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    });
    this.url = await listen(this.hub);
    this.cdnUrl = await listen(this.cdn);
  }

  addRepo(repo: StandInRepo): void {
    const stored = storeRepo(repo);
    this.repos.set(stored.id, stored);
    if (stored.renamedFrom !== undefined) this.renamed.set(stored.renamedFrom, stored.id);
  }

  lookup(id: string): StoredRepo | undefined {
    return this.repos.get(id);
  }

  setFaults(faults: Fault[]): void {
    const kinds = ['truncate', 'wrong-size', 'wrong-hash', 'stall', 'status', 'no-range'];
    for (const f of faults) {
      if (!kinds.includes(f?.kind)) throw new Error(`hub stand-in: fault kind ${JSON.stringify(f?.kind)} is not one of ${kinds.join(', ')}`);
      if (typeof f.file !== 'string' || f.file === '') throw new Error(`hub stand-in: fault ${f.kind} needs a file path, got ${JSON.stringify(f.file)}`);
      if ((f.kind === 'truncate' || f.kind === 'stall') && !(Number.isSafeInteger(f.afterBytes) && f.afterBytes >= 0)) {
        throw new Error(`hub stand-in: fault ${f.kind} on ${f.file}: afterBytes must be a whole number ≥ 0, got ${f.afterBytes}`);
      }
      if (f.kind === 'status' && !(Number.isInteger(f.status) && f.status >= 400 && f.status <= 599)) {
        throw new Error(`hub stand-in: fault status on ${f.file}: status must be an error, 400..599, got ${f.status}`);
      }
      if ('times' in f && f.times !== undefined && !(Number.isSafeInteger(f.times) && f.times >= 0)) {
        throw new Error(`hub stand-in: fault ${f.kind} on ${f.file}: times must be a whole number ≥ 0, got ${f.times}`);
      }
    }
    this.faults = faults.map((fault) => ({ fault, left: 'times' in fault && fault.times !== undefined ? fault.times : 1 }));
  }

  etagOf(id: string, path: string): string {
    return statedEtag(this.file(id, path));
  }

  commitOf(id: string): string {
    return this.repo(id).commit;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      const closed = [this.hub, this.cdn].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const socket of this.sockets) socket.destroy();
      await Promise.all(closed);
    })();
    return this.closing;
  }

  private repo(id: string): StoredRepo {
    const repo = this.repos.get(id);
    if (!repo) throw new Error(`hub stand-in: no repo ${JSON.stringify(id)}; it has ${[...this.repos.keys()].join(', ') || 'none'}`);
    return repo;
  }

  private file(id: string, path: string): StoredFile {
    const repo = this.repo(id);
    const file = repo.files.get(path);
    if (!file) throw new Error(`hub stand-in: repo ${id} has no file ${JSON.stringify(path)}; it has ${[...repo.files.keys()].join(', ')}`);
    return file;
  }

  // A fault names a file by its path in the repo ("model.safetensors", matching it in every repo)
  // or by "{id}/{path}" for one repo. The CDN knows a file by its sha256: where one repo holds the
  // same content under two paths, the CDN counts it as the first of them.
  private matching(repoId: string, path: string, kind: Fault['kind']): ActiveFault | undefined {
    const counted = kind === 'truncate' || kind === 'stall' || kind === 'status';
    return this.faults.find((a) => a.fault.kind === kind && (a.fault.file === path || a.fault.file === `${repoId}/${path}`) &&
      (!counted || a.left > 0));
  }

  private record(server: 'hub' | 'cdn', req: IncomingMessage): void {
    this.requests.push({ server, method: req.method ?? '', path: req.url ?? '', headers: headersOf(req) });
  }

  /** Answers a status fault if one is pending for this file; true when it did. */
  private statusFault(res: ServerResponse, repoId: string, path: string, extra: OutgoingHttpHeaders): boolean {
    const active = this.matching(repoId, path, 'status');
    if (!active || active.fault.kind !== 'status') return false;
    active.left -= 1;
    const status = active.fault.status;
    const body = `stand-in fault: status ${status} for ${path}\n`;
    res.writeHead(status, { ...extra, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(res.req.method === 'HEAD' ? undefined : body);
    return true;
  }

  // ---- the Hub -------------------------------------------------------------------------------

  private onHub(req: IncomingMessage, res: ServerResponse): void {
    this.record('hub', req);
    const base: OutgoingHttpHeaders = { ...CORS, 'X-Request-Id': `Root=stand-in-${++this.requestCount}` };
    if (req.method === 'OPTIONS') return void res.writeHead(204, { ...PREFLIGHT, 'X-Request-Id': base['X-Request-Id'] }).end();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return void res.writeHead(405, { ...base, Allow: 'GET, HEAD, OPTIONS', 'Content-Length': 0 }).end();
    }
    const target = new URL(req.url ?? '/', 'http://stand-in');
    const segs = target.pathname.split('/').slice(1);
    // /{org}/{name}/resolve/{revision}/{path...} or the legacy /{name}/resolve/{revision}/{path...}
    const at = segs[2] === 'resolve' ? 2 : segs[1] === 'resolve' ? 1 : -1;
    let parts: { id: string; revision: string; path: string };
    try {
      if (at < 0 || segs.length < at + 3) throw new Error('not a resolve URL');
      parts = {
        id: segs.slice(0, at).map(decodeURIComponent).join('/'),
        revision: decodeURIComponent(segs[at + 1]),
        path: segs.slice(at + 2).map(decodeURIComponent).join('/'),
      };
    } catch {
      // Not a route the stand-in knows (the real Hub answers an HTML page): no X-Error-Code.
      return this.hubError(res, 404, base, undefined, 'Not Found');
    }
    const { id, revision, path } = parts;
    if (this.statusFault(res, id, path, base)) return;

    // A renamed repo: a relative 307, which huggingface_hub follows itself
    // (utils/_http.py _httpx_follow_relative_redirects_with_backoff replaces the path and retries).
    // Answered before any access check: the redirect names only the new id.
    const newId = this.renamed.get(id);
    if (newId !== undefined && !this.repos.has(id)) {
      const rest = target.pathname.split('/').slice(at + 1).join('/');
      const location = `/${newId}/${rest}${target.search}`;
      const body = `Temporary Redirect. Redirecting to ${location}`;
      res.writeHead(307, { ...base, Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      return void res.end(req.method === 'HEAD' ? undefined : body);
    }

    const token = bearer(req);
    const repo = this.repos.get(id);
    if (!repo) {
      // Without a token the Hub answers 401 for a repo that does not exist or that the caller may
      // not see, so as not to reveal which (the comment in hf_raise_for_status; transformers
      // PR #17651 "401 if a repo is not found" unauthenticated, 404 with a token). Any bearer token
      // counts as a valid user's here: the stand-in has no account list, so it never answers
      // the Hub's 401 "Invalid credentials in Authorization header".
      return token === undefined
        ? this.hubError(res, 401, base, 'RepoNotFound', 'Invalid username or password.')
        : this.hubError(res, 404, base, 'RepoNotFound', 'Repository not found');
    }
    if (repo.gated && token !== repo.gated.token) {
      // Messages as huggingface_hub's GatedRepoError docs and user reports quote them: 401 when
      // not logged in, 403 when logged in but not on the authorized list.
      return token === undefined
        ? this.hubError(res, 401, base, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`)
        : this.hubError(res, 403, base, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list. Visit ${this.url}/${id} to ask for access.`);
    }
    if (!acceptsRevision(repo, revision)) {
      return this.hubError(res, 404, base, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    }
    const withCommit = { ...base, 'X-Repo-Commit': repo.commit };
    const file = repo.files.get(path);
    if (!file) return this.hubError(res, 404, withCommit, 'EntryNotFound', 'Entry not found');

    if (file.lfs) return this.redirectToCdn(req, res, repo, file, withCommit);
    this.serveBody(req, res, repo.id, file, { ...withCommit, ETag: `"${this.statedHash(repo.id, file)}"` });
  }

  /** An error as hf_raise_for_status reads it: X-Error-Code, X-Error-Message and {"error": ...}. */
  private hubError(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, code: string | undefined, message: string): void {
    const body = JSON.stringify({ error: message });
    res.writeHead(status, {
      ...headers,
      ...(code !== undefined ? { 'X-Error-Code': code, 'X-Error-Message': message } : {}),
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  private statedHash(repoId: string, file: StoredFile): string {
    const real = file.lfs ? file.sha256 : file.gitSha1;
    if (!this.matching(repoId, file.path, 'wrong-hash')) return real;
    // Another digest of the same length: what a corrupted blob behind a correct record looks like.
    return sha256Hex(new TextEncoder().encode(`not ${real}`)).slice(0, real.length);
  }

  private statedSize(repoId: string, file: StoredFile): number {
    return file.bytes.length + (this.matching(repoId, file.path, 'wrong-size') ? 1 : 0);
  }

  // An LFS file: 302 to a presigned CDN URL, as the Hub answers for LFS (and, without hf_xet, Xet)
  // files. X-Linked-Etag / X-Linked-Size describe the linked file (get_hf_file_metadata prefers
  // them). No ETag: the Hub does not send ETag and X-Linked-Etag together (huggingface_hub PR
  // #1406, "never returned together").
  private redirectToCdn(req: IncomingMessage, res: ServerResponse, repo: StoredRepo, file: StoredFile, headers: OutgoingHttpHeaders): void {
    const location = this.cdnLocation(repo, file);
    const body = `Found. Redirecting to ${location}`;
    res.writeHead(302, {
      ...headers,
      Location: location,
      'X-Linked-Etag': `"${this.statedHash(repo.id, file)}"`,
      'X-Linked-Size': String(this.statedSize(repo.id, file)),
      'Accept-Ranges': 'bytes',
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  // Shaped like the Hub's LFS CDN URLs: /repos/{aa}/{bb}/{repo key}/{sha256}?response-content-
  // disposition=...&Expires=...&Signature=...&Key-Pair-Id=...
  private cdnLocation(repo: StoredRepo, file: StoredFile): string {
    const key = sha256Hex(new TextEncoder().encode(repo.id));
    const pathname = `/repos/${key.slice(0, 2)}/${key.slice(2, 4)}/${key}/${file.sha256}`;
    const name = file.path.split('/').pop() ?? file.path;
    const expires = String(Math.floor(Date.now() / 1000) + 3600);
    const query = new URLSearchParams({
      'response-content-disposition': `inline; filename*=UTF-8''${encodeURIComponent(name)}; filename="${name}";`,
      Expires: expires,
      Signature: this.sign(pathname, expires),
      'Key-Pair-Id': 'STANDIN',
    });
    return `${this.cdnUrl}${pathname}?${query}`;
  }

  private sign(pathname: string, expires: string): string {
    return createHmac('sha256', this.signKey).update(`${pathname}\n${expires}`).digest('hex').slice(0, 32);
  }

  // ---- the CDN -------------------------------------------------------------------------------

  private onCdn(req: IncomingMessage, res: ServerResponse): void {
    this.record('cdn', req);
    if (req.method === 'OPTIONS') return void res.writeHead(204, PREFLIGHT).end();
    const plain = (status: number, text: string) => {
      res.writeHead(status, { ...CORS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(405, 'Method Not Allowed');
    const target = new URL(req.url ?? '/', 'http://stand-in');
    const m = /^\/repos\/[0-9a-f]{2}\/[0-9a-f]{2}\/([0-9a-f]{64})\/([0-9a-f]{64})$/.exec(target.pathname);
    // Presigned: no Authorization needed, but the signature must come back untouched. The CDN's
    // errors are not the Hub's (no X-Error-Code).
    const expires = target.searchParams.get('Expires') ?? '';
    if (!m || target.searchParams.get('Signature') !== this.sign(target.pathname, expires)) return plain(403, 'Access denied: missing or altered signature');
    const repo = [...this.repos.values()].find((r) => sha256Hex(new TextEncoder().encode(r.id)) === m[1]);
    const file = repo && [...repo.files.values()].find((f) => f.lfs && f.sha256 === m[2]);
    if (!repo || !file) return plain(404, 'Not Found');
    if (this.statusFault(res, repo.id, file.path, CORS)) return;
    const disposition = target.searchParams.get('response-content-disposition');
    this.serveBody(req, res, repo.id, file, {
      ...CORS,
      ETag: `"${this.statedHash(repo.id, file)}"`,
      ...(disposition ? { 'Content-Disposition': disposition } : {}),
    });
  }

  // ---- bodies, ranges and the faults that cut them ----------------------------------------------

  private serveBody(req: IncomingMessage, res: ServerResponse, repoId: string, file: StoredFile, headers: OutgoingHttpHeaders): void {
    const size = file.bytes.length;
    const stated = this.statedSize(repoId, file);
    const noRange = this.matching(repoId, file.path, 'no-range') !== undefined;
    const range = noRange ? { kind: 'none' as const } : parseRange(req.headers.range, size);
    const common = { ...headers, 'Content-Type': contentTypeOf(file.path), ...(noRange ? {} : { 'Accept-Ranges': 'bytes' }) };
    if (range.kind === 'bad') {
      res.writeHead(416, { ...common, 'Content-Range': `bytes */${stated}`, 'Content-Length': 0 });
      return void res.end();
    }
    const [start, end] = range.kind === 'ok' ? [range.start, range.end] : [0, size - 1];
    const body = file.bytes.subarray(start, end + 1);
    if (range.kind === 'ok') {
      res.writeHead(206, { ...common, 'Content-Range': `bytes ${start}-${end}/${stated}`, 'Content-Length': body.length });
    } else {
      // A HEAD states the size the Hub believes (wrong-size adds one); a GET's Content-Length
      // always matches its body, so the client sees the difference only when it compares.
      res.writeHead(200, { ...common, 'Content-Length': req.method === 'HEAD' ? stated : body.length });
    }
    if (req.method === 'HEAD') return void res.end();

    const socket = req.socket;
    const truncate = this.matching(repoId, file.path, 'truncate');
    if (truncate && truncate.fault.kind === 'truncate') {
      truncate.left -= 1;
      // Content-Length stays the full size; the connection ends after N bytes.
      res.flushHeaders();
      if (truncate.fault.afterBytes > 0) res.write(body.subarray(0, truncate.fault.afterBytes), () => socket.destroy());
      else socket.end();
      return;
    }
    const stall = this.matching(repoId, file.path, 'stall');
    if (stall && stall.fault.kind === 'stall') {
      stall.left -= 1;
      res.flushHeaders();
      if (stall.fault.afterBytes > 0) res.write(body.subarray(0, stall.fault.afterBytes));
      const timer = setTimeout(() => { this.timers.delete(timer); socket.destroy(); }, this.stallMs);
      timer.unref();
      this.timers.add(timer);
      return;
    }
    res.end(body);
  }
}

/**
 * Starts the Hub stand-in and its CDN on 127.0.0.1, ports chosen by the system. Call close() when
 * done (an afterAll/afterEach): it ends every connection, stalled ones included.
 */
export async function startHubStandIn(repos: StandInRepo[], options: { faults?: Fault[]; stallMs?: number } = {}): Promise<HubStandIn> {
  const stallMs = options.stallMs ?? 60_000;
  if (!(Number.isFinite(stallMs) && stallMs > 0)) throw new Error(`hub stand-in: stallMs must be a positive number of milliseconds, got ${stallMs}`);
  const stand = new StandIn(stallMs);
  for (const repo of repos) stand.addRepo(repo);
  stand.setFaults(options.faults ?? []);
  await stand.listen();
  registerStand(stand, (id) => stand.lookup(id));
  return stand;
}
