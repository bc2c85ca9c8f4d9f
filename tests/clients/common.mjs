// What the three client scripts share: the settings from the environment, a fetch that
// counts requests per operation and can hold one back (so a test can look at the cache
// while the server has not answered yet), a fetch that records what persisted queries send,
// a watch on console warnings, and the exit.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

/** The stack's base URL, the caller's Authorization header value and what the data must be. */
export function settings() {
  const names = ['CLIENTS_API_URL', 'CLIENTS_TOKEN', 'CLIENTS_EXPECTED'];
  const missing = names.filter((name) => !process.env[name]);
  if (missing.length) {
    console.error(`set ${missing.join(', ')} (see tests/stack/test_real_clients.py)`);
    process.exit(2);
  }
  const expected = JSON.parse(process.env.CLIENTS_EXPECTED);
  return {
    url: `${process.env.CLIENTS_API_URL.replace(/\/$/, '')}/graphql`,
    publicUrl: `${process.env.CLIENTS_API_URL.replace(/\/$/, '')}/public/graphql`,
    token: process.env.CLIENTS_TOKEN,
    // ranking: [{id, count}] best first; favorites: ids newest first; target: a restaurant of
    // the first ranking page the viewer has not favorited; rankingPage / favoritesPage: page sizes.
    expected,
  };
}

/** Every console warning and error of the run: each fails it (Apollo, graphcache and Relay warn there). */
export function watchConsole() {
  const messages = [];
  for (const level of ['warn', 'error']) {
    const original = console[level];
    console[level] = (...args) => {
      messages.push(`${level}: ${args.map(String).join(' ')}`);
      original.apply(console, args);
    };
  }
  return messages;
}

/** A request's document: from the JSON body of a POST, or the URL of a GET (urql's default for queries). */
function documentOf(input, init) {
  if (init.body) return JSON.parse(init.body).query;
  return new URL(String(input)).searchParams.get('query');
}

function operationName(query) {
  const match = /^\s*(?:query|mutation)\s+(\w+)/.exec(query ?? '');
  return match ? match[1] : '(anonymous)';
}

/**
 * A fetch for the clients: counts requests by operation name, keeps their documents,
 * and, while `hold()` is armed, keeps the next request from leaving until `release()`.
 */
export function countingFetch(token) {
  const counts = {};
  const documents = [];
  let gate = null;
  const fetchFn = async (input, init = {}) => {
    const query = documentOf(input, init);
    const name = operationName(query);
    counts[name] = (counts[name] ?? 0) + 1;
    const sent = Object.fromEntries(new Headers(init.headers));
    documents.push({ name, query, headers: sent });
    if (gate) {
      const current = gate;
      gate = null;
      current.arrived();
      await current.opened;
    }
    const headers = new Headers(init.headers);
    headers.set('authorization', token);
    return fetch(input, { ...init, headers });
  };
  return {
    fetch: fetchFn,
    counts,
    documents,
    /** Hold the next request back; resolves `arrived` once it is waiting. */
    hold() {
      let arrived;
      let open;
      const arrival = new Promise((resolve) => (arrived = resolve));
      const opened = new Promise((resolve) => (open = resolve));
      gate = { arrived, opened };
      return { arrival, release: open };
    },
  };
}

/** Poll `check` (which may throw an assertion) until it passes or `timeout` ms pass. */
export async function eventually(check, timeout = 2000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** One request around every client cache, as another device of the same user would send it. */
export async function sendDirectly(url, token, query, variables = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: token },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, `direct request failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Run the client's checks; print the summary as one JSON line, or the failure and exit 1. */
export async function run(client, messages, steps) {
  try {
    const summary = await steps();
    assert.deepEqual(messages, [], `${client} printed warnings or errors:\n${messages.join('\n')}`);
    console.log(JSON.stringify({ client, ...summary, warnings: messages.length }));
    process.exit(0);
  } catch (error) {
    process.stderr.write(`${client}: ${error?.stack ?? error}\n`);
    process.exit(1);
  }
}

/** What a screen shows of a ranking edge list: [{id, rank, count, heart}]. */
export const rows = (edges) =>
  edges.map((edge) => ({
    id: edge.node.id,
    rank: edge.rank,
    count: edge.favoriteCount,
    heart: edge.node.viewerHasFavorited,
  }));

/** The ranking the seeded data must show, hearts from the viewer's favorites, shaped as `rows`. */
export function expectedRanking(expected) {
  return expected.ranking.map((row, index) => ({
    id: row.id,
    rank: index + 1,
    count: row.count,
    heart: expected.favorites.includes(row.id),
  }));
}

/**
 * Wait until the server's ranking is the seeded one again, hearts included: the
 * favorite and unfavorite a script sent before are counted (the stream is
 * asynchronous). Sent around every client cache, with a document of its own.
 */
export async function settledRanking(url, token, expected, timeout = 20000) {
  const query = `query Settled { topRestaurants(first: ${expected.ranking.length}) {
    edges { rank favoriteCount node { id viewerHasFavorited } } } }`;
  await eventually(async () => {
    const data = await sendDirectly(url, token, query);
    assert.deepEqual(rows(data.topRestaurants.edges), expectedRanking(expected));
  }, timeout);
}

/** sha256 of a document's text, lowercase hex: the hash APQ names it by (node's crypto). */
export const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** What went over the wire for one request, and what came back. */
async function exchangeOf(input, init, response) {
  const url = new URL(String(input));
  const method = (init.method ?? 'GET').toUpperCase();
  const sent = method === 'GET' ? null : JSON.parse(init.body);
  const field = (name) =>
    sent ? sent[name] : url.searchParams.has(name) ? url.searchParams.get(name) : undefined;
  const extensions = field('extensions');
  const parsed = typeof extensions === 'string' ? JSON.parse(extensions) : extensions;
  let codes = [];
  if (response.status !== 304) {
    const body = await response.clone().json();
    codes = (body.errors ?? []).map((error) => error.extensions?.code ?? error.message);
  }
  return {
    method,
    url: String(input),
    hasDocument: typeof field('query') === 'string',
    hash: parsed?.persistedQuery?.sha256Hash ?? null,
    status: response.status,
    codes,
    cacheControl: response.headers.get('cache-control'),
    etag: response.headers.get('etag'),
  };
}

/**
 * A fetch for a client with persisted queries: it records each request's method,
 * whether it carried the document, the hash, the status, the error codes and the
 * caching headers of the answer. `token` null: a signed-out client.
 */
export function recordingFetch(token) {
  const exchanges = [];
  const fetchFn = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    if (token) headers.set('authorization', token);
    const response = await fetch(input, { ...init, headers });
    exchanges.push(await exchangeOf(input, init, response));
    return response;
  };
  return { fetch: fetchFn, exchanges };
}

/** The sequence the stock clients must show for a document the server has never seen. */
export function assertFirstRun(exchanges, label) {
  assert.equal(exchanges.length, 2, `${label}: a miss, then the document`);
  const [miss, sent] = exchanges;
  assert.equal(miss.method, 'GET', `${label}: the hash goes as a GET`);
  assert.equal(miss.hasDocument, false, `${label}: the first request carries no document`);
  assert.match(miss.hash ?? '', /^[0-9a-f]{64}$/, `${label}: the first request names the hash`);
  assert.deepEqual(miss.codes, ['PERSISTED_QUERY_NOT_FOUND'], `${label}: the server asks for it`);
  assert.equal(sent.hasDocument, true, `${label}: then the document`);
  assert.equal(sent.hash, miss.hash, `${label}: with the same hash`);
  assert.deepEqual(sent.codes, [], `${label}: which runs`);
  return miss.hash;
}

/** Later runs: only the hash, as a GET, answered without errors. */
export function assertHashOnly(exchanges, hash, label) {
  assert.ok(exchanges.length > 0, `${label}: no request at all`);
  for (const exchange of exchanges) {
    assert.equal(exchange.method, 'GET', `${label}: a GET`);
    assert.equal(exchange.hasDocument, false, `${label}: no document over the wire`);
    assert.equal(exchange.hash, hash, `${label}: the hash the server stored`);
    assert.equal(exchange.status, 200, `${label}: answered`);
    assert.deepEqual(exchange.codes, [], `${label}: without errors`);
  }
}

/**
 * A public hash-only GET answer is cacheable: `public, max-age=N` and an ETag; sent again
 * with If-None-Match, it is a 304 without a body; with another tag, the whole answer.
 */
export async function conditionalGet(exchange) {
  const maxAge = /(?:^|,\s*)public,\s*max-age=(\d+)/.exec(exchange.cacheControl ?? '');
  assert.ok(maxAge && Number(maxAge[1]) > 0, `public and a max-age: ${exchange.cacheControl}`);
  assert.match(exchange.etag ?? '', /^"[^"]+"$/, 'a strong ETag');
  const again = await fetch(exchange.url, { headers: { 'if-none-match': exchange.etag } });
  assert.equal(again.status, 304, 'the same answer again: 304 Not Modified');
  assert.equal(await again.text(), '', 'a 304 has no body');
  assert.equal(again.headers.get('etag'), exchange.etag);
  const other = await fetch(exchange.url, { headers: { 'if-none-match': '"another"' } });
  assert.equal(other.status, 200, 'another tag: the whole answer');
  return {
    maxAge: Number(maxAge[1]),
    etag: exchange.etag,
    notModified: again.status,
    otherTag: other.status,
  };
}

/** An exchange as the test reads it: method, document or hash only, error codes. */
export const summarize = (exchange) => ({
  method: exchange.method,
  document: exchange.hasDocument,
  hashed: exchange.hash !== null,
  codes: exchange.codes,
});
