// The GraphQL documents of relay.mjs, read by relay-compiler only (relay.mjs imports the
// artifacts it generates into relay/__generated__/). `graphql` marks them for the compiler.
const graphql = String.raw;

// The home screen: the ranking with hearts and counts, and the viewer's favorites, in one request.
graphql`
  query HomeQuery($rankingCount: Int!, $favoritesCount: Int!) {
    ...HomeRanking_query @arguments(count: $rankingCount)
    viewer {
      id
      ...Favorites_viewer @arguments(count: $favoritesCount)
    }
  }
`;

// The ranking as a paginated list: @refetchable on Query generates the page query.
graphql`
  fragment HomeRanking_query on Query
  @argumentDefinitions(count: { type: "Int!" }, cursor: { type: "String" })
  @refetchable(queryName: "RankingPaginationQuery") {
    topRestaurants(first: $count, after: $cursor) @connection(key: "HomeRanking_topRestaurants") {
      edges {
        rank
        favoriteCount
        node {
          id
          ...RestaurantHeart_restaurant
        }
      }
    }
  }
`;

// The viewer's favorites: Relay refetches a fragment on Viewer through `Query.viewer`.
graphql`
  fragment Favorites_viewer on Viewer
  @argumentDefinitions(count: { type: "Int!" }, cursor: { type: "String" })
  @refetchable(queryName: "FavoritesPaginationQuery") {
    favorites(first: $count, after: $cursor) @connection(key: "Favorites_favorites") {
      edges {
        createdAt
        node {
          id
          ...RestaurantHeart_restaurant
        }
      }
    }
  }
`;

// A restaurant's heart and count, refetchable on its own through `node(id:)`.
graphql`
  fragment RestaurantHeart_restaurant on Restaurant @refetchable(queryName: "RestaurantHeartRefetchQuery") {
    id
    viewerHasFavorited
    favoriteCount
  }
`;

// The mutations add and remove the favorites edge by directive, not by an updater.
graphql`
  mutation FavoriteMutation($id: ID!, $connections: [ID!]!) {
    favorite(restaurantId: $id) {
      changed
      restaurant {
        ...RestaurantHeart_restaurant
      }
      favoriteEdge @prependEdge(connections: $connections) {
        cursor
        createdAt
        node {
          id
          ...RestaurantHeart_restaurant
        }
      }
    }
  }
`;

graphql`
  mutation UnfavoriteMutation($id: ID!, $connections: [ID!]!) {
    unfavorite(restaurantId: $id) {
      changed
      restaurant {
        id @deleteEdge(connections: $connections)
        ...RestaurantHeart_restaurant
      }
    }
  }
`;
