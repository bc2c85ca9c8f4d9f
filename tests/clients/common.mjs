// What the three client scripts share: the settings from the environment, a fetch that
// counts requests per operation and can hold one back (so a test can look at the cache
// while the server has not answered yet), a watch on console warnings, and the exit.
import assert from 'node:assert/strict';

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
