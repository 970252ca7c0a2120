// The typed client's error handling (`node --test`, run by `tests/scripts/client.sh --check`):
// both error shapes, the request id from the body or API Gateway's header, Retry-After.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, ApiError, parseRetryAfter } from './client.js';

/** A fetch that answers once with `status`, `body` and `headers`, and records the request. */
function answering(status, body, headers = {}) {
  const seen = [];
  const f = async (url, init) => {
    seen.push({ url, init });
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });
  };
  return { f, seen };
}

async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  assert.fail('no error was thrown');
}

test('our error: code, message, request id from the body, Retry-After', async () => {
  const { f } = answering(
    429,
    { error: { code: 'attempt_limit_reached', message: 'too many', request_id: 'lambda-1' } },
    { 'retry-after': '120', 'apigw-requestid': 'gw-1' },
  );
  const e = await failure(createClient({ fetch: f }).startSession({}));
  assert.equal(e.status, 429);
  assert.equal(e.code, 'attempt_limit_reached');
  assert.equal(e.message, 'too many');
  assert.equal(e.requestId, 'lambda-1');
  assert.equal(e.retryAfter, 120);
  assert.equal(e.fromGateway, false);
});

test("API Gateway's own answers: no code, the request id from its header", async () => {
  for (const [status, message] of [[401, 'Unauthorized'], [404, 'Not Found'], [429, 'Too Many Requests']]) {
    const { f } = answering(status, { message }, { 'apigw-requestid': 'gw-' + status });
    const e = await failure(createClient({ fetch: f }).getSession('idv_x'));
    assert.equal(e.status, status);
    assert.equal(e.code, null);
    assert.equal(e.message, message);
    assert.equal(e.requestId, 'gw-' + status);
    assert.equal(e.retryAfter, null);
    assert.equal(e.fromGateway, true);
  }
});

test('an empty request id in our body falls back to the header', async () => {
  const { f } = answering(
    404,
    { error: { code: 'session_not_found', message: 'no', request_id: '' } },
    { 'apigw-requestid': 'gw-2' },
  );
  const e = await failure(createClient({ fetch: f }).linkToken('idv_x'));
  assert.equal(e.code, 'session_not_found');
  assert.equal(e.requestId, 'gw-2');
});

test('a body that is not JSON, and no network', async () => {
  const bad = async () => new Response('<html>bad gateway</html>', { status: 502 });
  const e = await failure(createClient({ fetch: bad }).listSessions());
  assert.equal(e.status, 502);
  assert.equal(e.code, null);
  assert.equal(e.fromGateway, false);
  const down = async () => { throw new TypeError('Failed to fetch'); };
  const n = await failure(createClient({ fetch: down }).listSessions());
  assert.equal(n.status, 0);
});

test('requests: paths, query, JSON body, headers per call', async () => {
  const { f, seen } = answering(201, { id: 'idv_1' }, { 'apigw-requestid': 'gw-3' });
  let token = 'a';
  const c = createClient({ fetch: f, baseUrl: 'https://api.test/', headers: () => ({ Authorization: 'Bearer ' + token }) });
  const a = await c.startSession({ gave_consent: true, is_shareable: true });
  assert.deepEqual([a.status, a.body.id, a.requestId], [201, 'idv_1', 'gw-3']);
  token = 'b';
  await c.getSession('idv/1', { refresh: true });
  await c.listSessions({ limit: 5, cursor: 'c1' });
  await c.shareableUrl('idv_1');
  assert.equal(seen[0].url, 'https://api.test/sessions');
  assert.equal(seen[0].init.method, 'POST');
  assert.equal(seen[0].init.headers['Content-Type'], 'application/json');
  assert.deepEqual(JSON.parse(seen[0].init.body), { gave_consent: true, is_shareable: true });
  assert.equal(seen[0].init.headers.Authorization, 'Bearer a');
  assert.equal(seen[1].url, 'https://api.test/sessions/idv%2F1?refresh=true');
  assert.equal(seen[1].init.headers.Authorization, 'Bearer b');
  assert.equal(seen[2].url, 'https://api.test/sessions?limit=5&cursor=c1');
  assert.equal(seen[3].url, 'https://api.test/sessions/idv_1?refresh=true');
});

test('shareableUrl: the link, or null when the answer has none', async () => {
  const url = 'http://127.0.0.1:1/verify/idv_1?key=k';
  assert.equal(await createClient({ fetch: answering(200, { id: 'idv_1', shareable_url: url }).f }).shareableUrl('idv_1'), url);
  assert.equal(await createClient({ fetch: answering(200, { id: 'idv_1' }).f }).shareableUrl('idv_1'), null);
});

test('Retry-After: seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter('5'), 5);
  assert.equal(parseRetryAfter(null), null);
  assert.equal(parseRetryAfter('soon'), null);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', now + 5000), 0);
});
