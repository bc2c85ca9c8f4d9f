// A supergraph for tests/stack/test_federation.py: a tiny catalog subgraph (restaurant
// names) and Apollo's federation gateway composing it with the favorites API.
//
//   node gateway.mjs <favorites subgraph URL> '<{"id": "name", ...}>'
//
// Prints one JSON line, {"gateway": <url>, "catalog": <url>}, once both listen on
// 127.0.0.1 (ports chosen by the system), then serves until stdin closes.
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

const [favoritesUrl, namesJson, introspectionToken] = process.argv.slice(2);
const names = JSON.parse(namesJson);
// Stdout carries the one ready line; Apollo's own messages go to stderr.
const toStderr = (...args) => console.error(...args);
const logger = { debug() {}, info: toStderr, warn: toStderr, error: toStderr };

// The catalog owns names; favorites owns counts and hearts. Both know Restaurant by id.
const catalogSchema = buildSubgraphSchema({
  typeDefs: parse(`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
    type Restaurant @key(fields: "id") { id: ID! name: String! }
    type Query { catalog: [Restaurant!]! }
  `),
  resolvers: {
    Query: { catalog: () => Object.keys(names).map((id) => ({ id })) },
    Restaurant: {
      __resolveReference: ({ id }) => ({ id }),
      name: ({ id }) => names[id] ?? `unknown ${id}`,
    },
  },
});
const catalog = new ApolloServer({ schema: catalogSchema, logger });
const { url: catalogUrl } = await startStandaloneServer(catalog, {
  listen: { host: "127.0.0.1", port: 0 },
});

// The viewer's token, as the client sent it to the gateway, goes on to the favorites
// subgraph (and only there): that is how viewerHasFavorited knows the viewer.
class ForwardAuthorization extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (this.name === "favorites" && context.authorization) {
      request.http.headers.set("authorization", context.authorization);
    }
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: "favorites", url: favoritesUrl },
      { name: "catalog", url: catalogUrl },
    ],
    // The authenticated route wants a token even to hand out its schema.
    introspectionHeaders: { authorization: introspectionToken },
  }),
  buildService: ({ name, url }) => new ForwardAuthorization({ name, url }),
  logger,
});
const server = new ApolloServer({ gateway, logger });
const { url: gatewayUrl } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: 0 },
  context: async ({ req }) => ({ authorization: req.headers.authorization }),
});

process.stdout.write(JSON.stringify({ gateway: gatewayUrl, catalog: catalogUrl }) + "\n");
process.stdin.resume();
process.stdin.on("end", async () => {
  await server.stop();
  await catalog.stop();
  process.exit(0);
});
