// client.js is this file compiled by tsc (`make client`): edit client.ts, not client.js.
/** The header API Gateway puts its request id in (exposed to browsers by the API's CORS). */
export const GATEWAY_REQUEST_ID_HEADER = 'apigw-requestid';
/** What went wrong with a call. */
export class ApiError extends Error {
    constructor(init) {
        super(init.message);
        this.name = 'ApiError';
        this.status = init.status;
        this.code = init.code;
        this.requestId = init.requestId;
        this.retryAfter = init.retryAfter;
        this.fromGateway = init.fromGateway;
    }
}
/** Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110); null when absent or bad. */
export function parseRetryAfter(value, now = Date.now()) {
    if (value === null)
        return null;
    const v = value.trim();
    if (/^\d+$/.test(v))
        return Number(v);
    const at = Date.parse(v);
    if (Number.isNaN(at))
        return null;
    return Math.max(0, Math.ceil((at - now) / 1000));
}
function isOurs(body) {
    const e = body?.error;
    return typeof e === 'object' && e !== null && typeof e.code === 'string';
}
function isGateway(body) {
    return typeof body === 'object' && body !== null && !('error' in body) &&
        typeof body.message === 'string';
}
/** The ApiError for a failed answer: our `{"error": {...}}` or API Gateway's `{"message"}`. */
export function errorFrom(status, headers, body) {
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
export function createClient(options = {}) {
    const base = (options.baseUrl ?? '').replace(/\/+$/, '');
    const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
    async function call(method, path, body) {
        const extra = typeof options.headers === 'function' ? options.headers() : options.headers ?? {};
        const headers = { Accept: 'application/json', ...extra };
        const init = { method, headers, cache: 'no-store' };
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        let resp;
        try {
            resp = await doFetch(base + path, init);
        }
        catch (e) {
            throw new ApiError({
                status: 0, code: null, message: 'could not reach the API: ' + String(e),
                requestId: null, retryAfter: null, fromGateway: false,
            });
        }
        let json = null;
        try {
            json = await resp.json();
        }
        catch {
            json = null;
        }
        if (!resp.ok)
            throw errorFrom(resp.status, resp.headers, json);
        const requestId = resp.headers.get(GATEWAY_REQUEST_ID_HEADER);
        return { status: resp.status, body: json, requestId };
    }
    const sessionPath = (id) => '/sessions/' + encodeURIComponent(id);
    return {
        startSession: (req = {}) => call('POST', '/sessions', req),
        async getSession(id, opts = {}) {
            const q = new URLSearchParams();
            if (opts.refresh)
                q.set('refresh', 'true');
            if (opts.view)
                q.set('view', opts.view);
            const qs = q.toString();
            return (await call('GET', sessionPath(id) + (qs ? '?' + qs : ''))).body;
        },
        async listSessions(opts = {}) {
            const q = new URLSearchParams();
            if (opts.template_id)
                q.set('template_id', opts.template_id);
            if (opts.limit !== undefined)
                q.set('limit', String(opts.limit));
            if (opts.cursor)
                q.set('cursor', opts.cursor);
            const qs = q.toString();
            return (await call('GET', '/sessions' + (qs ? '?' + qs : ''))).body;
        },
        async linkToken(id, req = {}) {
            return (await call('POST', sessionPath(id) + '/link-token', req)).body;
        },
        async shareableUrl(id) {
            const s = (await call('GET', sessionPath(id) + '?refresh=true')).body;
            return s.shareable_url ?? null;
        },
    };
}
