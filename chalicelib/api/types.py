"""GraphQL types: thin typed classes over the domain; stores come from the context.

The shapes follow what normalized client caches (Apollo Client, urql's
graphcache, Relay) are built on: a ``Node`` interface with globally unique ids,
Relay Cursor Connections for every list that pages, and mutation payloads that
return the object they changed, so a cache updates itself by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from chalicelib import windows
from chalicelib.api.context import RequestContext
from chalicelib.favorites import Favorite as FavoriteRecord
from chalicelib.favorites import FavoriteChange
from chalicelib.ids import MAX_IDS, is_valid_id, require_restaurant_id, require_restaurant_ids
from chalicelib.rankings import RankedRestaurant as RankedRestaurantRecord
from chalicelib.windows import bucket_for

# Registers the domain enum with strawberry (in place), so resolvers take it as is.
strawberry.enum(
    windows.TimeWindow,
    name="TimeWindow",
    description="Which favorites count: all of them, or those created in one UTC month or day.",
)
# The domain enum cannot carry GraphQL descriptions itself (windows.py is pure).
_WINDOW_DESCRIPTIONS = {
    "ALL_TIME": "Every favorite that stands, whenever it was made.",
    "MONTH": "Favorites made in one UTC calendar month (YYYY-MM) that still stand.",
    "DAY": "Favorites made on one UTC day (YYYY-MM-DD) that still stand.",
}
for _value in windows.TimeWindow.__strawberry_definition__.values:  # type: ignore[attr-defined]
    _value.description = _WINDOW_DESCRIPTIONS[_value.name]

PeriodArgument = Annotated[
    str | None,
    strawberry.argument(
        description="YYYY-MM for MONTH, YYYY-MM-DD for DAY; the current UTC period when omitted."
        " Not allowed with ALL_TIME."
    ),
]
WindowArgument = Annotated[
    windows.TimeWindow, strawberry.argument(description="Which favorites count.")
]

Context = Info[RequestContext, None]

# A viewer's global id: restaurant ids cannot contain "/", so no restaurant id equals it.
VIEWER_ID_PREFIX = "viewer/"


def viewer_node_id(user_id: str) -> str:
    return f"{VIEWER_ID_PREFIX}{user_id}"


@strawberry.interface(
    description="An object with an id unique across all types: `Query.node` refetches it."
)
class Node:
    id: strawberry.ID = strawberry.field(description="Unique across all types.")


@strawberry.federation.type(
    keys=["id"],
    description="A restaurant, known here by its id. A federation entity: other services"
    " add its name, photos and the rest.",
)
class Restaurant(Node):
    id: strawberry.ID = strawberry.field(
        description="The restaurant's own id (also its federation key): 1 to 128 letters,"
        " digits, '.', '_', ':' or '-'."
    )

    @strawberry.field(
        description="How many users favorited it in the window. Read for every restaurant"
        " of the response at once. Counted from the favorites stream: a new favorite shows"
        " here within about a second."
    )
    def favorite_count(
        self,
        info: Context,
        window: WindowArgument = windows.TimeWindow.ALL_TIME,
        period: PeriodArgument = None,
    ) -> int:
        bucket = bucket_for(window, period, info.context.clock())
        return info.context.restaurants.count(str(self.id), bucket)

    @strawberry.field(
        description="Whether the signed-in user favorited it; false when the request has no"
        " identity. Read for every restaurant of the response at once."
    )
    def viewer_has_favorited(self, info: Context) -> bool:
        return info.context.restaurants.viewer_has_favorited(str(self.id))

    @classmethod
    def listed(cls, info: Context, restaurant_ids: list[str]) -> list[Restaurant]:
        """Restaurants a resolver returns, announced first so their fields are read together."""
        info.context.restaurants.announce(restaurant_ids)
        return [cls(id=strawberry.ID(restaurant_id)) for restaurant_id in restaurant_ids]


@strawberry.type(
    description="Where a page of a connection starts and ends (Relay Cursor Connections)."
)
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether more edges follow: pass `endCursor` as `after` to get them."
    )
    has_previous_page: bool = strawberry.field(
        description="Always false: the lists page forward only."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, to pass as `after`; null on an empty page."
    )


@strawberry.type(description="A restaurant's place in a ranking.")
class RankingEdge:
    rank: int = strawberry.field(description="1 for the most favorited; continues across pages.")
    favorite_count: int = strawberry.field(
        description="The count the ranking is ordered by, in its window and period."
    )
    node: Restaurant = strawberry.field(
        description="The restaurant of the row. Its favoriteCount in the ranking's window and"
        " period is this row's count (no read); other fields are read for all rows at once."
    )
    # The row and the ranking it belongs to: its cursor is bound to the ranking.
    record: strawberry.Private[RankedRestaurantRecord]
    bucket: strawberry.Private[str]

    @strawberry.field(
        description="Pass as `after` to continue the ranking after this row. Valid for the"
        " same window and period only."
    )
    def cursor(self, info: Context) -> str:
        return info.context.rankings.cursor(self.record, self.bucket)


@strawberry.type(description="A page of a ranking: restaurants by favorite count.")
class RankingConnection:
    edges: list[RankingEdge] = strawberry.field(description="The rows of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Whether the ranking goes on.")


@strawberry.type(description="One of the viewer's favorites.")
class FavoriteEdge:
    created_at: datetime = strawberry.field(description="When the viewer favorited it.")
    node: Restaurant = strawberry.field(
        description="The favorited restaurant; its fields are read for all edges at once."
    )
    favorite: strawberry.Private[FavoriteRecord]
    user_id: strawberry.Private[str]

    @strawberry.field(
        description="Pass as `after` to continue the viewer's favorites after this one."
    )
    def cursor(self, info: Context) -> str:
        return info.context.favorites.cursor(self.favorite, self.user_id)

    @classmethod
    def of(cls, favorite: FavoriteRecord, user_id: str, node: Restaurant) -> FavoriteEdge:
        return cls(created_at=favorite.created_at, node=node, favorite=favorite, user_id=user_id)


@strawberry.type(description="A page of the viewer's favorites, newest first.")
class FavoriteConnection:
    edges: list[FavoriteEdge] = strawberry.field(description="The favorites of this page.")
    page_info: PageInfo = strawberry.field(description="Whether more favorites follow.")


@strawberry.type(description="The signed-in user.")
class Viewer(Node):
    id: strawberry.ID = strawberry.field(
        description="`viewer/` and the user's id: never equal to a restaurant id."
    )
    user_id: strawberry.Private[str]

    @classmethod
    def of(cls, user_id: str) -> Viewer:
        return cls(id=strawberry.ID(viewer_node_id(user_id)), user_id=user_id)

    @strawberry.field(description="The viewer's favorites, newest first.")
    def favorites(
        self,
        info: Context,
        first: Annotated[
            int, strawberry.argument(description="How many favorites, 1 to 100.")
        ] = 20,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="An edge's `cursor` (or `pageInfo.endCursor`): the list continues"
                " after it."
            ),
        ] = None,
    ) -> FavoriteConnection:
        page = info.context.favorites.list_for_user(self.user_id, first, after)
        nodes = Restaurant.listed(info, [item.restaurant_id for item in page.items])
        edges = [
            FavoriteEdge.of(item, self.user_id, node)
            for item, node in zip(page.items, nodes, strict=True)
        ]
        favorites = info.context.favorites
        return FavoriteConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=False,
                start_cursor=favorites.cursor(page.items[0], self.user_id) if page.items else None,
                end_cursor=page.end_cursor,
            ),
        )


@strawberry.type(description="What `favorite` and `unfavorite` changed.")
class FavoritePayload:
    restaurant: Restaurant = strawberry.field(
        description="The restaurant as it is after the call: its viewerHasFavorited is the new"
        " state. Its favoriteCount is the counted value, which catches up with this change"
        " within about a second (show an optimistic count meanwhile)."
    )
    changed: bool = strawberry.field(description="False when it already was as asked.")
    favorite_edge: FavoriteEdge | None = strawberry.field(
        description="The new edge of the viewer's favorites when `favorite` created one (for"
        " a client to prepend it to the list); null otherwise."
    )

    @classmethod
    def of(cls, info: Context, user_id: str, change: FavoriteChange) -> FavoritePayload:
        # The request knows the new state: the heart costs no read.
        info.context.restaurants.prime_favorited(change.restaurant_id, change.is_favorite)
        [restaurant] = Restaurant.listed(info, [change.restaurant_id])
        edge = None
        if change.changed and change.created_at is not None:
            favorite = FavoriteRecord(change.restaurant_id, change.created_at)
            edge = FavoriteEdge.of(favorite, user_id, restaurant)
        return cls(restaurant=restaurant, changed=change.changed, favorite_edge=edge)


RestaurantIdArgument = Annotated[
    strawberry.ID, strawberry.argument(description="The restaurant's id.")
]


@strawberry.type(description="What the app reads.")
class Query:
    @strawberry.field(
        description="Restaurants by favorite count, highest first; ties by restaurant id."
        " Counts are updated from the favorites stream, usually within a second."
    )
    def top_restaurants(
        self,
        info: Context,
        window: WindowArgument = windows.TimeWindow.ALL_TIME,
        period: PeriodArgument = None,
        first: Annotated[int, strawberry.argument(description="How many rows, 1 to 100.")] = 10,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="An edge's `cursor` (or `pageInfo.endCursor`): the ranking continues"
                " after that row. It must come from the same window and period."
            ),
        ] = None,
    ) -> RankingConnection | None:
        bucket = bucket_for(window, period, info.context.clock())
        page = info.context.rankings.cursor_page(bucket, first, after)
        records = page.rows
        nodes = Restaurant.listed(info, [record.restaurant_id for record in records])
        info.context.restaurants.prime_counts(
            bucket, ((record.restaurant_id, record.favorite_count) for record in records)
        )
        rankings = info.context.rankings
        return RankingConnection(
            edges=[
                RankingEdge(
                    rank=record.rank,
                    favorite_count=record.favorite_count,
                    node=node,
                    record=record,
                    bucket=bucket,
                )
                for record, node in zip(records, nodes, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=False,
                start_cursor=rankings.cursor(records[0], bucket) if records else None,
                end_cursor=rankings.cursor(records[-1], bucket) if records else None,
            ),
        )

    @strawberry.field(
        description="A restaurant by id; one nobody favorited is a restaurant with count 0."
    )
    def restaurant(self, info: Context, id: RestaurantIdArgument) -> Restaurant | None:
        [restaurant] = Restaurant.listed(info, [require_restaurant_id(str(id), "id")])
        return restaurant

    @strawberry.field(
        description=f"Restaurants by id, 1 to {MAX_IDS}, in the order asked (repeats"
        " included). An id nobody favorited is a restaurant with count 0."
    )
    def restaurants(
        self,
        info: Context,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description=f"1 to {MAX_IDS} restaurant ids.")
        ],
    ) -> list[Restaurant] | None:
        return Restaurant.listed(info, require_restaurant_ids([str(id) for id in ids]))

    @strawberry.field(
        description="The object with this global id: a restaurant for a restaurant id, the"
        " viewer for the caller's own viewer id; null for anything else (another user's"
        " viewer id included)."
    )
    def node(
        self,
        info: Context,
        id: Annotated[strawberry.ID, strawberry.argument(description="A `Node.id`.")],
    ) -> Node | None:
        user_id = info.context.user_id
        if user_id is not None and str(id) == viewer_node_id(user_id):
            return Viewer.of(user_id)
        if is_valid_id(str(id)):
            [restaurant] = Restaurant.listed(info, [str(id)])
            return restaurant
        return None

    @strawberry.field(description="The signed-in user; null when the request has no identity.")
    def viewer(self, info: Context) -> Viewer | None:
        user_id = info.context.user_id
        return Viewer.of(user_id) if user_id is not None else None


@strawberry.type(description="What the app changes: the signed-in user's favorites.")
class Mutation:
    @strawberry.mutation(
        description="Favorite a restaurant. Idempotent: a repeat changes nothing and says"
        " changed: false."
    )
    def favorite(self, info: Context, restaurant_id: RestaurantIdArgument) -> FavoritePayload:
        user_id = info.context.require_user()
        restaurant = require_restaurant_id(str(restaurant_id))
        return FavoritePayload.of(info, user_id, info.context.favorites.add(user_id, restaurant))

    @strawberry.mutation(
        description="Remove a favorite. Removing what is not a favorite says changed: false."
    )
    def unfavorite(self, info: Context, restaurant_id: RestaurantIdArgument) -> FavoritePayload:
        user_id = info.context.require_user()
        restaurant = require_restaurant_id(str(restaurant_id))
        return FavoritePayload.of(info, user_id, info.context.favorites.remove(user_id, restaurant))
