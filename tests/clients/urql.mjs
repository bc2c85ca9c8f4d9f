// urql 6 (@urql/core) with graphcache 9 against the API: the home screen in one request,
// both lists paged with the stock relayPagination(), the heart flipped by the mutation
// payload alone (no `updates`), an optimistic response through graphcache's `optimistic`
// config, and not one graphcache warning (the schema is given, so it checks the most);
// then the stock persistedExchange: a miss and the document once, hash-only GETs after.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Client, fetchExchange, gql } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { relayPagination } from '@urql/exchange-graphcache/extras';
import { persistedExchange } from '@urql/exchange-persisted';
import { buildSchema, introspectionFromSchema } from 'graphql';
import {
  settledRanking,
  assertFirstRun,
  assertHashOnly,
  conditionalGet,
  countingFetch,
  eventually,
  expectedRanking,
  recordingFetch,
  rows,
  run,
  settings,
  sha256,
  summarize,
  watchConsole,
} from './common.mjs';

const messages = watchConsole();
const { url, publicUrl, token, expected } = settings();
const schema = introspectionFromSchema(
  buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8')),
);

const HEART = gql`
  fragment Heart on Restaurant {
    id
    viewerHasFavorited
    favoriteCount
  }
`;
const PAGE_INFO = gql`
  fragment Page on PageInfo {
    hasNextPage
    hasPreviousPage
    startCursor
    endCursor
  }
`;
const HOME = gql`
  query Home($rankingFirst: Int!, $favoritesFirst: Int!) {
    topRestaurants(first: $rankingFirst) {
      edges { cursor rank favoriteCount node { ...Heart } }
      pageInfo { ...Page }
    }
    viewer {
      id
      favorites(first: $favoritesFirst) {
        edges { cursor createdAt node { ...Heart } }
        pageInfo { ...Page }
      }
    }
  }
  ${HEART}
  ${PAGE_INFO}
`;
const RANKING_PAGE = gql`
  query RankingPage($first: Int!, $after: String) {
    topRestaurants(first: $first, after: $after) {
      edges { cursor rank favoriteCount node { ...Heart } }
      pageInfo { ...Page }
    }
  }
  ${HEART}
  ${PAGE_INFO}
`;
const FAVORITES_PAGE = gql`
  query FavoritesPage($first: Int!, $after: String) {
    viewer {
      id
      favorites(first: $first, after: $after) {
        edges { cursor createdAt node { ...Heart } }
        pageInfo { ...Page }
      }
    }
  }
  ${HEART}
  ${PAGE_INFO}
`;
const FAVORITE = gql`
  mutation Favorite($id: ID!) {
    favorite(restaurantId: $id) { changed restaurant { ...Heart } }
  }
  ${HEART}
`;
const UNFAVORITE = gql`
  mutation Unfavorite($id: ID!) {
    unfavorite(restaurantId: $id) { changed restaurant { ...Heart } }
  }
  ${HEART}
`;

/** The answer a tap shows at once: the heart flipped, the count moved by one. */
const tap = (hearted) => (args, cache) => ({
  __typename: 'FavoritePayload',
  changed: true,
  restaurant: {
    __typename: 'Restaurant',
    id: args.restaurantId,
    viewerHasFavorited: hearted,
    favoriteCount:
      cache.resolve({ __typename: 'Restaurant', id: args.restaurantId }, 'favoriteCount') +
      (hearted ? 1 : -1),
  },
});

/**
 * A client as an app builds it; `optimistic` adds optimistic responses (graphcache: per
 * client); `persisted` puts the stock persistedExchange before the fetchExchange.
 */
function makeClient(network, optimistic, { persisted = false, endpoint = url } = {}) {
  const persisting = persisted
    ? [
        persistedExchange({
          preferGetForPersistedQueries: true,
          generateHash: async (query) => sha256(query),
        }),
      ]
    : [];
  return new Client({
    url: endpoint,
    fetch: network.fetch,
    exchanges: [
      cacheExchange({
        schema,
        resolvers: {
          Query: { topRestaurants: relayPagination() },
          Viewer: { favorites: relayPagination() },
        },
        optimistic: optimistic ? { favorite: tap(true), unfavorite: tap(false) } : {},
        logger: (severity, message) => {
          if (severity === 'warn' || severity === 'error') {
            messages.push(`graphcache ${severity}: ${message}`);
          }
        },
      }),
      ...persisting,
      fetchExchange,
    ],
  });
}

/** The home screen held open like a component holds it; returns a getter for its latest data. */
async function openHome(client, network) {
  const { rankingPage, favoritesPage } = expected;
  let latest = null;
  const subscription = client
    .query(HOME, { rankingFirst: rankingPage, favoritesFirst: favoritesPage })
    .subscribe((result) => (latest = result));
  const screen = () => {
    assert.equal(latest?.error, undefined, `home screen: ${latest?.error}`);
    return latest?.data;
  };
  await eventually(() => assert.ok(screen()?.topRestaurants, 'no home screen'), 10000);
  assert.equal(network.counts.Home, 1, 'the home screen takes one request');
  return { screen, close: () => subscription.unsubscribe() };
}

async function send(client, document, variables) {
  const result = await client.mutation(document, variables).toPromise();
  const name = result.operation.query.definitions[0].name.value;
  assert.equal(result.error, undefined, `${name}: ${result.error}`);
  return result.data;
}

// What a signed-out screen asks: public fields only. Named for this client, as the
// module's scripts share one document store and each first run must be a miss.
const URQL_RANKING = gql`
  query UrqlRanking($first: Int!) {
    topRestaurants(first: $first) {
      edges { cursor rank favoriteCount node { id favoriteCount } }
      pageInfo { ...Page }
    }
  }
  ${PAGE_INFO}
`;

/** What a query's run sent: the exchanges recorded since `from`. */
async function queried(client, network, document, variables, context) {
  const from = network.exchanges.length;
  const result = await client.query(document, variables, context).toPromise();
  assert.equal(result.error, undefined, `${result.error}`);
  return { data: result.data, sent: network.exchanges.slice(from) };
}

/** The home screen twice and from a new client, then a signed-out ranking by hash alone. */
async function persistedQueries() {
  await settledRanking(url, token, expected);
  const { rankingPage, favoritesPage } = expected;
  const variables = { rankingFirst: rankingPage, favoritesFirst: favoritesPage };
  const network = recordingFetch(token);
  const client = makeClient(network, false, { persisted: true });
  const first = await queried(client, network, HOME, variables);
  const hash = assertFirstRun(first.sent, 'home, first run');
  assert.deepEqual(
    rows(first.data.topRestaurants.edges),
    expectedRanking(expected).slice(0, rankingPage),
  );
  const again = await queried(client, network, HOME, variables, { requestPolicy: 'network-only' });
  assertHashOnly(again.sent, hash, 'home, second run');
  const otherNetwork = recordingFetch(token);
  const otherClient = makeClient(otherNetwork, false, { persisted: true });
  const other = await queried(otherClient, otherNetwork, HOME, variables);
  assertHashOnly(other.sent, hash, 'home, a new client');
  assert.deepEqual(rows(other.data.topRestaurants.edges), rows(first.data.topRestaurants.edges));
  // The signed-in screen holds the viewer's hearts: never for a shared cache.
  assert.equal(other.sent[0].cacheControl, 'private, no-store');
  assert.equal(other.sent[0].etag, null);

  const ranking = { first: rankingPage };
  const signedOut = recordingFetch(null);
  const publicClient = makeClient(signedOut, false, { persisted: true, endpoint: publicUrl });
  const publicHash = assertFirstRun(
    (await queried(publicClient, signedOut, URQL_RANKING, ranking)).sent,
    'signed-out ranking, first run',
  );
  const later = recordingFetch(null);
  const laterClient = makeClient(later, false, { persisted: true, endpoint: publicUrl });
  const fresh = await queried(laterClient, later, URQL_RANKING, ranking);
  assertHashOnly(fresh.sent, publicHash, 'signed-out ranking, a new client');
  return {
    homeRequests: [...network.exchanges, ...otherNetwork.exchanges].map(summarize),
    publicRequests: [...signedOut.exchanges, ...later.exchanges].map(summarize),
    publicCaching: await conditionalGet(fresh.sent[0]),
  };
}

run('urql', messages, async () => {
  const { favorites, target, rankingPage, favoritesPage } = expected;
  const network = countingFetch(token);
  const client = makeClient(network, false);
  const home = await openHome(client, network);
  assert.deepEqual(
    rows(home.screen().topRestaurants.edges),
    expectedRanking(expected).slice(0, rankingPage),
    'page 1 of the ranking with hearts and counts',
  );
  const viewerId = home.screen().viewer.id;
  assert.ok(viewerId.startsWith('viewer/'), `a viewer id no restaurant id can equal: ${viewerId}`);
  assert.deepEqual(
    home.screen().viewer.favorites.edges.map((edge) => edge.node.id),
    favorites.slice(0, favoritesPage),
  );

  // Paging: each page is its own request; relayPagination() merges it after the pages before.
  let rankingPages = 1;
  let ranking = home.screen().topRestaurants;
  while (ranking.pageInfo.hasNextPage) {
    const result = await client
      .query(RANKING_PAGE, { first: rankingPage, after: ranking.pageInfo.endCursor })
      .toPromise();
    assert.equal(result.error, undefined, `ranking page: ${result.error}`);
    assert.ok(result.data.topRestaurants.edges.length > ranking.edges.length, 'appended');
    ranking = result.data.topRestaurants;
    rankingPages += 1;
    assert.ok(rankingPages <= expected.ranking.length, 'hasNextPage never ends the ranking');
  }
  assert.deepEqual(rows(ranking.edges), expectedRanking(expected), 'every page, in order, once');
  assert.equal(rankingPages, Math.ceil(expected.ranking.length / rankingPage));
  assert.equal(network.counts.RankingPage, rankingPages - 1, 'one request per page');
  // The screen's own query shows the merged list too.
  await eventually(() =>
    assert.deepEqual(rows(home.screen().topRestaurants.edges), expectedRanking(expected)),
  );

  let favoritesPages = 1;
  let list = home.screen().viewer.favorites;
  while (list.pageInfo.hasNextPage) {
    const result = await client
      .query(FAVORITES_PAGE, { first: favoritesPage, after: list.pageInfo.endCursor })
      .toPromise();
    assert.equal(result.error, undefined, `favorites page: ${result.error}`);
    assert.ok(result.data.viewer.favorites.edges.length > list.edges.length, 'appended');
    list = result.data.viewer.favorites;
    favoritesPages += 1;
    assert.ok(favoritesPages <= favorites.length, 'hasNextPage never ends the favorites');
  }
  assert.deepEqual(list.edges.map((edge) => edge.node.id), favorites);
  assert.equal(favoritesPages, Math.ceil(favorites.length / favoritesPage));

  // A tap with no optimistic response: the payload's Restaurant alone flips the heart.
  const heartOn = (screen) =>
    screen.topRestaurants.edges.find((edge) => edge.node.id === target).node.viewerHasFavorited;
  assert.equal(heartOn(home.screen()), false, 'the target starts without a heart');
  assert.equal((await send(client, FAVORITE, { id: target })).favorite.changed, true);
  await eventually(() => assert.equal(heartOn(home.screen()), true, 'the heart from the payload'));
  assert.equal((await send(client, UNFAVORITE, { id: target })).unfavorite.changed, true);
  await eventually(() => assert.equal(heartOn(home.screen()), false, 'cleared by the payload'));
  assert.equal(network.counts.Home, 1, 'no refetch of the home screen');
  home.close();

  // The same taps on a client with optimistic responses: the heart flips before the answer.
  const optimisticNetwork = countingFetch(token);
  const optimisticClient = makeClient(optimisticNetwork, true);
  const second = await openHome(optimisticClient, optimisticNetwork);
  for (const [mutation, document, hearted] of [
    ['favorite', FAVORITE, true],
    ['unfavorite', UNFAVORITE, false],
  ]) {
    const held = optimisticNetwork.hold();
    const pending = send(optimisticClient, document, { id: target });
    await held.arrival;
    await eventually(() =>
      assert.equal(heartOn(second.screen()), hearted, `optimistic ${mutation}, no answer yet`),
    );
    held.release();
    assert.equal((await pending)[mutation].changed, true);
    await eventually(() =>
      assert.equal(heartOn(second.screen()), hearted, `${mutation} after the answer`),
    );
  }
  assert.equal(optimisticNetwork.counts.Home, 1, 'no refetch of the home screen');
  second.close();
  return {
    persisted: await persistedQueries(),
    requests: network.counts,
    optimisticRequests: optimisticNetwork.counts,
    ranking: ranking.edges.map((edge) => edge.node.id),
    favorites: list.edges.map((edge) => edge.node.id),
    rankingPages,
    favoritesPages,
    optimistic: true,
  };
});
