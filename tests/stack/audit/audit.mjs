// Runs graphql-http's GraphQL-over-HTTP server audits against one URL and prints
// every result as one JSON line per audit: {id, name, status, reason?, status_code?}.
// Usage: node audit.mjs <url>; a token in GRAPHQL_AUDIT_AUTHORIZATION is sent
// as the Authorization header of every request (the /graphql route needs one).
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <url>');
  process.exit(2);
}
const authorization = process.env.GRAPHQL_AUDIT_AUTHORIZATION;

function fetchFn(input, init = {}) {
  if (!authorization) return fetch(input, init);
  const headers = new Headers(init.headers);
  headers.set('authorization', authorization);
  return fetch(input, { ...init, headers });
}

// One audit at a time: chalice local's server queues only a few connections,
// and sixty at once would measure its listen backlog, not the API.
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.status_code = result.response.status;
    line.body = await result.response.text().catch(() => '<body already read>');
  }
  console.log(JSON.stringify(line));
}
