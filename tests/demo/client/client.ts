// A small fetch client for the identity verification API, typed by `api.d.ts` (generated from
// shared/openapi.yaml by openapi-typescript: `make client`). No dependencies: copy this file and
// api.d.ts into a front end, or load the compiled client.js as an ES module.
//
// Every failure is thrown as an ApiError with the HTTP status, our error code (null for API
// Gateway's own `{"message"}` answers, which come before any function runs), the request id to
// quote to support, and Retry-After in seconds when the API says when to try again.
import type { components } from './api';

type Schemas = components['schemas'];
export type Session = Schemas['Session'];
export type SessionList = Schemas['SessionList'];
export type SessionStatus = Schemas['SessionStatus'];
export type StartRequest = Schemas['StartRequest'];
export type LinkToken = Schemas['LinkToken'];
export type LinkTokenRequest = Schemas['LinkTokenRequest'];
export type ErrorBody = Schemas['Error'];
export type GatewayErrorBody = Schemas['GatewayError'];
export type ErrorCode = ErrorBody['error']['code'];

// client.js is this file compiled by tsc (`make client`): edit client.ts, not client.js.

/** The header API Gateway puts its request id in (exposed to browsers by the API's CORS). */
export const GATEWAY_REQUEST_ID_HEADER = 'apigw-requestid';

export interface ClientOptions {
  /** The API's base URL (the stack's ApiUrl output); '' for the page's own origin. */
  baseUrl?: string;
  /** Headers sent on every call, e.g. `{Authorization: 'Bearer ' + token}`; a function is
   * called per request, so a refreshed token is picked up. */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** What went wrong with a call. */
export class ApiError extends Error {
  /** HTTP status; 0 when the API could not be reached. */
  readonly status: number;
  /** Our error code; null for API Gateway's own answers and network failures. */
  readonly code: ErrorCode | null;
  /** Quote it to support: our body's `request_id`, else API Gateway's request id header. */
  readonly requestId: string | null;
  /** Seconds to wait before trying again (Retry-After), when the API said. */
  readonly retryAfter: number | null;
  /** True when API Gateway answered itself (`{"message"}`: authorizer, route, throttling). */
  readonly fromGateway: boolean;

  constructor(init: {
    status: number;
    code: ErrorCode | null;
    message: string;
    requestId: string | null;
    retryAfter: number | null;
    fromGateway: boolean;
  }) {
    super(init.message);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
    this.fromGateway = init.fromGateway;
  }
}

/** An answer with its status (200 resumed or 201 created, for a start). */
export interface Answer<T> {
  status: number;
  body: T;
  requestId: string | null;
}

/** Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110); null when absent or bad. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function isOurs(body: unknown): body is ErrorBody {
  const e = (body as { error?: unknown } | null)?.error as Record<string, unknown> | undefined;
  return typeof e === 'object' && e !== null && typeof e.code === 'string';
}

function isGateway(body: unknown): body is GatewayErrorBody {
  return typeof body === 'object' && body !== null && !('error' in body) &&
    typeof (body as { message?: unknown }).message === 'string';
}

/** The ApiError for a failed answer: our `{"error": {...}}` or API Gateway's `{"message"}`. */
export function errorFrom(status: number, headers: Headers, body: unknown): ApiError {
  const headerId = headers.get(GATEWAY_REQUEST_ID_HEADER);
  const retryAfter = parseRetryAfter(headers.get('retry-after'));
  if (isOurs(body)) {
    return new ApiError({
      status,
      code: body.error.code,
      message: body.error.message,
      requestId: body.error.request_id || headerId,
      retryAfter,
      fromGateway: false,
    });
  }
  return new ApiError({
    status,
    code: null,
    message: isGateway(body) ? body.message : 'HTTP ' + status,
    requestId: headerId,
    retryAfter,
    fromGateway: isGateway(body),
  });
}

export interface Client {
  /** Start, resume (200) or retry (201) the caller's verification. */
  startSession(req?: StartRequest): Promise<Answer<Session>>;
  /** One of the caller's sessions; `refresh` re-reads it from Plaid first. */
  getSession(id: string, opts?: { refresh?: boolean; view?: 'summary' | 'full' }): Promise<Session>;
  /** The caller's sessions, newest first, one page. */
  listSessions(opts?: { template_id?: string; limit?: number; cursor?: string }): Promise<SessionList>;
  /** A Plaid Link token for the caller's session. */
  linkToken(id: string, req?: LinkTokenRequest): Promise<LinkToken>;
  /** The hosted verification link of the caller's open, shareable session, read again from
   * Plaid (`refresh=true`); null when the session has none (not shareable, or finished), or
   * when the per-session cool-down of Plaid reads answered from the store: try again later. */
  shareableUrl(id: string): Promise<string | null>;
}

export function createClient(options: ClientOptions = {}): Client {
  const base = (options.baseUrl ?? '').replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer<T>> {
    const extra = typeof options.headers === 'function' ? options.headers() : options.headers ?? {};
    const headers: Record<string, string> = { Accept: 'application/json', ...extra };
    const init: RequestInit = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp: Response;
    try {
      resp = await doFetch(base + path, init);
    } catch (e) {
      throw new ApiError({
        status: 0, code: null, message: 'could not reach the API: ' + String(e),
        requestId: null, retryAfter: null, fromGateway: false,
      });
    }
    let json: unknown = null;
    try {
      json = await resp.json();
    } catch {
      json = null;
    }
    if (!resp.ok) throw errorFrom(resp.status, resp.headers, json);
    const requestId = resp.headers.get(GATEWAY_REQUEST_ID_HEADER);
    return { status: resp.status, body: json as T, requestId };
  }

  const sessionPath = (id: string) => '/sessions/' + encodeURIComponent(id);

  return {
    startSession: (req = {}) => call<Session>('POST', '/sessions', req),
    async getSession(id, opts = {}) {
      const q = new URLSearchParams();
      if (opts.refresh) q.set('refresh', 'true');
      if (opts.view) q.set('view', opts.view);
      const qs = q.toString();
      return (await call<Session>('GET', sessionPath(id) + (qs ? '?' + qs : ''))).body;
    },
    async listSessions(opts = {}) {
      const q = new URLSearchParams();
      if (opts.template_id) q.set('template_id', opts.template_id);
      if (opts.limit !== undefined) q.set('limit', String(opts.limit));
      if (opts.cursor) q.set('cursor', opts.cursor);
      const qs = q.toString();
      return (await call<SessionList>('GET', '/sessions' + (qs ? '?' + qs : ''))).body;
    },
    async linkToken(id, req = {}) {
      return (await call<LinkToken>('POST', sessionPath(id) + '/link-token', req)).body;
    },
    async shareableUrl(id) {
      const s = (await call<Session>('GET', sessionPath(id) + '?refresh=true')).body;
      return s.shareable_url ?? null;
    },
  };
}
