// Apollo Client 4 with InMemoryCache against the API: the home screen in one request,
// both lists paged with the stock relayStylePagination(), and the heart flipped by the
// mutation payload (and by an optimistic response) with no update() function anywhere;
// then the stock PersistedQueryLink: a miss and the document once, hash-only GETs after.
import assert from 'node:assert/strict';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { relayStylePagination } from '@apollo/client/utilities';
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
const network = countingFetch(token);

const RESTAURANT = gql`
  fragment Heart on Restaurant {
    id
    viewerHasFavorited
    favoriteCount
  }
`;
const HOME = gql`
  query Home($rankingFirst: Int!, $favoritesFirst: Int!) {
    topRestaurants(first: $rankingFirst) {
      edges { cursor rank favoriteCount node { ...Heart } }
      pageInfo { hasNextPage endCursor }
    }
    viewer {
      id
      favorites(first: $favoritesFirst) {
        edges { cursor createdAt node { ...Heart } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
  ${RESTAURANT}
`;
const RANKING_PAGE = gql`
  query RankingPage($first: Int!, $after: String) {
    topRestaurants(first: $first, after: $after) {
      edges { cursor rank favoriteCount node { ...Heart } }
      pageInfo { hasNextPage endCursor }
    }
  }
  ${RESTAURANT}
`;
const FAVORITES_PAGE = gql`
  query FavoritesPage($first: Int!, $after: String) {
    viewer {
      id
      favorites(first: $first, after: $after) {
        edges { cursor createdAt node { ...Heart } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
  ${RESTAURANT}
`;
const FAVORITE = gql`
  mutation Favorite($id: ID!) {
    favorite(restaurantId: $id) { changed restaurant { ...Heart } }
  }
  ${RESTAURANT}
`;
const UNFAVORITE = gql`
  mutation Unfavorite($id: ID!) {
    unfavorite(restaurantId: $id) { changed restaurant { ...Heart } }
  }
  ${RESTAURANT}
`;

// What a signed-out screen asks: public fields only. Named for this client, as the
// module's scripts share one document store and each first run must be a miss.
const APOLLO_RANKING = gql`
  query ApolloRanking($first: Int!) {
    topRestaurants(first: $first) {
      edges { cursor rank favoriteCount node { id favoriteCount } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const client = new ApolloClient({
  link: new HttpLink({ uri: url, fetch: network.fetch }),
  // Sent as apollographql-client-name / -version headers, as an app's client would send them.
  clientAwareness: { name: 'favorites-web', version: '1.0.0' },
  cache: new InMemoryCache({
    typePolicies: {
      // The stock helpers; the ranking's window and period name separate lists.
      Query: { fields: { topRestaurants: relayStylePagination(['window', 'period']) } },
      Viewer: { fields: { favorites: relayStylePagination() } },
    },
  }),
});

/** The optimistic answer a tap shows at once: the heart flipped, the count moved by one. */
function optimistic(mutation, id, hearted) {
  const current = client.cache.readFragment({
    id: client.cache.identify({ __typename: 'Restaurant', id }),
    fragment: RESTAURANT,
  });
  return {
    [mutation]: {
      __typename: 'FavoritePayload',
      changed: true,
      restaurant: {
        __typename: 'Restaurant',
        id,
        viewerHasFavorited: hearted,
        favoriteCount: current.favoriteCount + (hearted ? 1 : -1),
      },
    },
  };
}

/** A brand-new client (its own cache) with the stock PersistedQueryLink before the HttpLink. */
function persistedClient(network, uri) {
  return new ApolloClient({
    link: new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
      new HttpLink({ uri, fetch: network.fetch }),
    ),
    cache: new InMemoryCache(),
  });
}

/** What a query's run sent: the exchanges recorded since `from`. */
async function queried(apollo, network, options) {
  const from = network.exchanges.length;
  const result = await apollo.query(options);
  assert.equal(result.error, undefined, `${result.error}`);
  return { data: result.data, sent: network.exchanges.slice(from) };
}

/** The home screen twice and from a new client, then a signed-out ranking by hash alone. */
async function persistedQueries() {
  await settledRanking(url, token, expected);
  const { rankingPage, favoritesPage } = expected;
  const home = {
    query: HOME,
    variables: { rankingFirst: rankingPage, favoritesFirst: favoritesPage },
  };
  const network = recordingFetch(token);
  const apollo = persistedClient(network, url);
  const first = await queried(apollo, network, home);
  const hash = assertFirstRun(first.sent, 'home, first run');
  assert.deepEqual(
    rows(first.data.topRestaurants.edges),
    expectedRanking(expected).slice(0, rankingPage),
  );
  const again = await queried(apollo, network, { ...home, fetchPolicy: 'network-only' });
  assertHashOnly(again.sent, hash, 'home, second run');
  const otherNetwork = recordingFetch(token);
  const other = await queried(persistedClient(otherNetwork, url), otherNetwork, home);
  assertHashOnly(other.sent, hash, 'home, a new client');
  assert.deepEqual(other.data, first.data, 'the same screen by hash alone');
  // The signed-in screen holds the viewer's hearts: never for a shared cache.
  assert.equal(other.sent[0].cacheControl, 'private, no-store');
  assert.equal(other.sent[0].etag, null);

  const ranking = { query: APOLLO_RANKING, variables: { first: rankingPage } };
  const signedOut = recordingFetch(null);
  const publicHash = assertFirstRun(
    (await queried(persistedClient(signedOut, publicUrl), signedOut, ranking)).sent,
    'signed-out ranking, first run',
  );
  const later = recordingFetch(null);
  const fresh = await queried(persistedClient(later, publicUrl), later, ranking);
  assertHashOnly(fresh.sent, publicHash, 'signed-out ranking, a new client');
  return {
    homeRequests: [...network.exchanges, ...otherNetwork.exchanges].map(summarize),
    publicRequests: [...signedOut.exchanges, ...later.exchanges].map(summarize),
    publicCaching: await conditionalGet(fresh.sent[0]),
  };
}

run('apollo', messages, async () => {
  const { favorites, target, rankingPage, favoritesPage } = expected;
  // The home screen: one watched query, as a component would hold it.
  const home = client.watchQuery({
    query: HOME,
    variables: { rankingFirst: rankingPage, favoritesFirst: favoritesPage },
  });
  let screen = null;
  const subscription = home.subscribe({ next: (result) => (screen = result.data) });
  await eventually(() => assert.ok(screen?.topRestaurants, 'the home screen never arrived'), 10000);
  assert.deepEqual(network.counts, { Home: 1 }, 'the home screen takes one request');
  assert.equal(network.documents[0].headers['apollographql-client-name'], 'favorites-web');
  const firstPage = expectedRanking(expected).slice(0, rankingPage);
  assert.deepEqual(rows(screen.topRestaurants.edges), firstPage, 'page 1 of the ranking, hearts and counts');
  const viewerId = screen.viewer.id;
  assert.ok(viewerId.startsWith('viewer/'), `a viewer id no restaurant id can equal: ${viewerId}`);
  assert.deepEqual(
    screen.viewer.favorites.edges.map((edge) => edge.node.id),
    favorites.slice(0, favoritesPage),
    'page 1 of the favorites',
  );

  // Paging: fetchMore writes each page; relayStylePagination appends it to the same list.
  let rankingPages = 1;
  while (screen.topRestaurants.pageInfo.hasNextPage) {
    const before = screen.topRestaurants.edges.length;
    await home.fetchMore({
      query: RANKING_PAGE,
      variables: { first: rankingPage, after: screen.topRestaurants.pageInfo.endCursor },
    });
    rankingPages += 1;
    await eventually(() => assert.ok(screen.topRestaurants.edges.length > before, 'page appended'));
    assert.ok(rankingPages <= expected.ranking.length, 'hasNextPage never ends the ranking');
  }
  assert.deepEqual(rows(screen.topRestaurants.edges), expectedRanking(expected), 'every page, once');
  assert.equal(rankingPages, Math.ceil(expected.ranking.length / rankingPage));

  let favoritesPages = 1;
  while (screen.viewer.favorites.pageInfo.hasNextPage) {
    const before = screen.viewer.favorites.edges.length;
    await home.fetchMore({
      query: FAVORITES_PAGE,
      variables: { first: favoritesPage, after: screen.viewer.favorites.pageInfo.endCursor },
    });
    favoritesPages += 1;
    await eventually(() => assert.ok(screen.viewer.favorites.edges.length > before, 'appended'));
    assert.ok(favoritesPages <= favorites.length, 'hasNextPage never ends the favorites');
  }
  assert.deepEqual(screen.viewer.favorites.edges.map((edge) => edge.node.id), favorites);
  assert.equal(favoritesPages, Math.ceil(favorites.length / favoritesPage));

  const heart = () =>
    screen.topRestaurants.edges.find((edge) => edge.node.id === target).node.viewerHasFavorited;
  assert.equal(heart(), false, 'the target starts without a heart');

  // A tap without an optimistic response: the payload's Restaurant alone flips the heart.
  const homeRequests = network.counts.Home;
  const favorited = await client.mutate({ mutation: FAVORITE, variables: { id: target } });
  assert.equal(favorited.data.favorite.changed, true);
  await eventually(() => assert.equal(heart(), true, 'the heart from the payload'));
  const unfavorited = await client.mutate({ mutation: UNFAVORITE, variables: { id: target } });
  assert.equal(unfavorited.data.unfavorite.changed, true);
  await eventually(() => assert.equal(heart(), false, 'the heart cleared by the payload'));

  // With an optimistic response: the heart flips while the request is still held back.
  for (const [mutation, document, hearted] of [
    ['favorite', FAVORITE, true],
    ['unfavorite', UNFAVORITE, false],
  ]) {
    const held = network.hold();
    const pending = client.mutate({
      mutation: document,
      variables: { id: target },
      optimisticResponse: optimistic(mutation, target, hearted),
    });
    await held.arrival;
    await eventually(() => assert.equal(heart(), hearted, `optimistic ${mutation}, no answer yet`));
    held.release();
    const answer = await pending;
    assert.equal(answer.data[mutation].changed, true);
    await eventually(() => assert.equal(heart(), hearted, `${mutation} after the answer`));
  }
  assert.equal(network.counts.Home, homeRequests, 'no refetch of the home screen');
  subscription.unsubscribe();
  return {
    persisted: await persistedQueries(),
    requests: network.counts,
    ranking: screen.topRestaurants.edges.map((edge) => edge.node.id),
    favorites: screen.viewer.favorites.edges.map((edge) => edge.node.id),
    rankingPages,
    favoritesPages,
    optimistic: true,
  };
});
