// Relay 21 against the API, with no React: relay-compiler compiles relay/documents.js
// against the repository's schema.graphql, and relay-runtime's Environment does what
// usePaginationFragment / useRefetchableFragment do: page both lists through the
// generated @refetchable queries (the @connection handler appends each page), refetch a
// Restaurant through `node(id:)`, and commit the mutations with @prependEdge / @deleteEdge
// and optimistic responses, with no updater anywhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import relay from 'relay-runtime';
import {
  countingFetch,
  expectedRanking,
  run,
  sendDirectly,
  settings,
  watchConsole,
} from './common.mjs';

const {
  ConnectionHandler,
  Environment,
  Network,
  RecordSource,
  Store,
  commitMutation,
  createOperationDescriptor,
  fetchQuery,
  getPaginationMetadata,
  getPaginationVariables,
  getSelector,
} = relay;

const messages = watchConsole();
const { url, token, expected } = settings();

// Compile first: a schema the documents no longer fit fails here, as it would fail a build.
const here = fileURLToPath(new URL('.', import.meta.url));
const artifacts = new URL('./relay/__generated__/', import.meta.url);
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });
try {
  execFileSync(new URL('./node_modules/.bin/relay-compiler', import.meta.url).pathname, [], {
    cwd: here,
    stdio: 'pipe',
  });
} catch (error) {
  process.stderr.write(`relay: relay-compiler failed:\n${error.stdout}${error.stderr}`);
  process.exit(1);
}
const artifact = createRequire(artifacts);
const HomeQuery = artifact('./HomeQuery.graphql.js');
const HomeRanking = artifact('./HomeRanking_query.graphql.js');
const Favorites = artifact('./Favorites_viewer.graphql.js');
const RestaurantHeart = artifact('./RestaurantHeart_restaurant.graphql.js');
const RestaurantHeartRefetchQuery = artifact('./RestaurantHeartRefetchQuery.graphql.js');
const FavoriteMutation = artifact('./FavoriteMutation.graphql.js');
const UnfavoriteMutation = artifact('./UnfavoriteMutation.graphql.js');

const network = countingFetch(token);
const environment = new Environment({
  network: Network.create(async (params, variables) => {
    const response = await network.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: params.text, variables, operationName: params.name }),
    });
    return response.json();
  }),
  store: new Store(new RecordSource()),
});

/** A fragment's data as a component would render it now (optimistic updates included). */
const read = (fragment, ref) => environment.lookup(getSelector(fragment, ref)).data;

/** A connection's rows as a screen shows them: [{id, rank?, count?, heart}]. */
function rowsOf(connection) {
  return connection.edges.map((edge) => {
    const heart = read(RestaurantHeart, edge.node);
    if (edge.rank === undefined) return { id: heart.id, heart: heart.viewerHasFavorited };
    return { id: heart.id, rank: edge.rank, count: edge.favoriteCount, heart: heart.viewerHasFavorited };
  });
}

/** usePaginationFragment's loadNext: the generated refetch query for the next page. */
async function loadNext(fragment, ref, count) {
  const selector = getSelector(fragment, ref);
  const { paginationRequest, paginationMetadata, connectionPathInFragmentData, identifierField } =
    getPaginationMetadata(fragment, 'relay.mjs');
  const data = environment.lookup(selector).data;
  const connection = connectionPathInFragmentData.reduce((value, key) => value[key], data);
  const variables = getPaginationVariables(
    'forward',
    count,
    connection.pageInfo.endCursor,
    { ...selector.owner.variables, ...selector.variables },
    {},
    paginationMetadata,
  );
  if (identifierField != null) variables.id = data[identifierField];
  await fetchQuery(environment, paginationRequest, variables).toPromise();
}

function mutate(mutation, variables, optimisticResponse) {
  return new Promise((resolve, reject) => {
    commitMutation(environment, {
      mutation,
      variables,
      optimisticResponse,
      onCompleted: (response, errors) => {
        if (errors) reject(new Error(`${mutation.params.name}: ${JSON.stringify(errors)}`));
        else resolve(response);
      },
      onError: reject,
    });
  });
}

run('relay', messages, async () => {
  const { favorites, target, rankingPage, favoritesPage } = expected;
  const variables = { rankingCount: rankingPage, favoritesCount: favoritesPage };
  const operation = createOperationDescriptor(HomeQuery, variables);
  const retained = environment.retain(operation);
  await fetchQuery(environment, HomeQuery, variables).toPromise();
  assert.deepEqual(network.counts, { HomeQuery: 1 }, 'the home screen takes one request');
  const home = environment.lookup(operation.fragment).data;
  const ranking = () => read(HomeRanking, home).topRestaurants;
  const favoritesList = () => read(Favorites, home.viewer).favorites;
  assert.deepEqual(rowsOf(ranking()), expectedRanking(expected).slice(0, rankingPage));
  const viewerId = home.viewer.id;
  assert.ok(viewerId.startsWith('viewer/'), `a viewer id no restaurant id can equal: ${viewerId}`);
  assert.deepEqual(rowsOf(favoritesList()).map((row) => row.id), favorites.slice(0, favoritesPage));

  // Paging both lists the way usePaginationFragment does; the connection handler appends.
  let rankingPages = 1;
  while (ranking().pageInfo.hasNextPage) {
    const before = ranking().edges.length;
    await loadNext(HomeRanking, home, rankingPage);
    rankingPages += 1;
    assert.ok(ranking().edges.length > before, 'the page is appended');
    assert.ok(rankingPages <= expected.ranking.length, 'hasNextPage never ends the ranking');
  }
  assert.deepEqual(rowsOf(ranking()), expectedRanking(expected), 'every page, in order, once');
  assert.equal(network.counts.RankingPaginationQuery, rankingPages - 1, 'one request per page');

  let favoritesPages = 1;
  while (favoritesList().pageInfo.hasNextPage) {
    const before = favoritesList().edges.length;
    await loadNext(Favorites, home.viewer, favoritesPage);
    favoritesPages += 1;
    assert.ok(favoritesList().edges.length > before, 'the page is appended');
    assert.ok(favoritesPages <= favorites.length, 'hasNextPage never ends the favorites');
  }
  assert.deepEqual(rowsOf(favoritesList()).map((row) => row.id), favorites);
  assert.equal(network.counts.FavoritesPaginationQuery, favoritesPages - 1, 'one request per page');

  // The taps: the payload flips the heart; @prependEdge / @deleteEdge keep the favorites list.
  const connections = [ConnectionHandler.getConnectionID(viewerId, 'Favorites_favorites')];
  const heart = () => rowsOf(ranking()).find((row) => row.id === target).heart;
  const listed = () => rowsOf(favoritesList()).map((row) => row.id);
  assert.equal(heart(), false, 'the target starts without a heart');
  const favorited = await mutate(FavoriteMutation, { id: target, connections });
  assert.equal(favorited.favorite.changed, true);
  assert.equal(heart(), true, 'the heart from the payload');
  assert.deepEqual(listed(), [target, ...favorites], 'the new edge on top of the favorites');
  const unfavorited = await mutate(UnfavoriteMutation, { id: target, connections });
  assert.equal(unfavorited.unfavorite.changed, true);
  assert.equal(heart(), false, 'the heart cleared by the payload');
  assert.deepEqual(listed(), favorites, 'the edge deleted from the favorites');

  // The same taps with optimistic responses, looked at while the request is held back.
  const count = () => {
    const edge = ranking().edges.find((row) => row.node.id === target);
    return read(RestaurantHeart, edge.node).favoriteCount;
  };
  const restaurant = (hearted) => ({
    id: target,
    viewerHasFavorited: hearted,
    favoriteCount: count() + (hearted ? 1 : -1),
  });
  let held = network.hold();
  let pending = mutate(FavoriteMutation, { id: target, connections }, {
    favorite: {
      changed: true,
      restaurant: restaurant(true),
      favoriteEdge: {
        cursor: `optimistic:${target}`,
        createdAt: new Date().toISOString(),
        node: restaurant(true),
      },
    },
  });
  await held.arrival;
  assert.equal(heart(), true, 'optimistic favorite before the answer');
  assert.deepEqual(listed(), [target, ...favorites], 'the optimistic edge on top');
  held.release();
  await pending;
  assert.equal(heart(), true, 'favorite after the answer');
  assert.deepEqual(listed(), [target, ...favorites], 'the server edge instead of the optimistic one');

  held = network.hold();
  pending = mutate(UnfavoriteMutation, { id: target, connections }, {
    unfavorite: { changed: true, restaurant: restaurant(false) },
  });
  await held.arrival;
  assert.equal(heart(), false, 'optimistic unfavorite before the answer');
  assert.deepEqual(listed(), favorites, 'the edge deleted optimistically');
  held.release();
  await pending;
  assert.equal(heart(), false, 'unfavorite after the answer');
  assert.deepEqual(listed(), favorites);

  // useRefetchableFragment's refetch: the generated query reads the Restaurant through node(id:).
  // A favorite from another device is invisible until then.
  const direct = 'mutation Direct($id: ID!) { favorite(restaurantId: $id) { changed } }';
  assert.equal((await sendDirectly(url, token, direct, { id: target })).favorite.changed, true);
  assert.equal(heart(), false, 'the store does not know yet');
  await fetchQuery(environment, RestaurantHeartRefetchQuery, { id: target }).toPromise();
  assert.equal(heart(), true, 'the refetch through node shows the heart');
  const refetch = network.documents.find((sent) => sent.name === 'RestaurantHeartRefetchQuery');
  assert.match(refetch.query, /node\(id: \$id\)/, 'the refetch goes through node');
  const undo = 'mutation Direct($id: ID!) { unfavorite(restaurantId: $id) { changed } }';
  assert.equal((await sendDirectly(url, token, undo, { id: target })).unfavorite.changed, true);
  await fetchQuery(environment, RestaurantHeartRefetchQuery, { id: target }).toPromise();
  assert.equal(heart(), false, 'the refetch through node clears the heart');
  retained.dispose();
  return {
    requests: network.counts,
    ranking: rowsOf(ranking()).map((row) => row.id),
    favorites: listed(),
    rankingPages,
    favoritesPages,
    optimistic: true,
    refetchedThroughNode: true,
  };
});
