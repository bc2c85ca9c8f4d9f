"""GraphQL types: thin typed classes over the domain; stores come from the context."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from chalicelib import windows
from chalicelib.api.context import RequestContext
from chalicelib.favorites import FavoriteChange
from chalicelib.ids import MAX_IDS, require_restaurant_id, require_restaurant_ids
from chalicelib.rankings import RankedRestaurant as RankedRestaurantRecord
from chalicelib.windows import bucket_for

# Registers the domain enum with strawberry (in place), so resolvers take it as is.
strawberry.enum(
    windows.TimeWindow,
    name="TimeWindow",
    description="Which favorites count: all of them, or those created in one UTC month or day.",
)

PeriodArgument = Annotated[
    str | None,
    strawberry.argument(
        description="YYYY-MM for MONTH, YYYY-MM-DD for DAY; the current UTC period when omitted."
        " Not allowed with ALL_TIME."
    ),
]

Context = Info[RequestContext, None]


@strawberry.federation.type(
    keys=["id"],
    description="A restaurant, known here by its id. A federation entity: other services"
    " add its name, photos and the rest.",
)
class Restaurant:
    id: strawberry.ID

    @strawberry.field(
        description="How many users favorited it in the window. Read for every restaurant"
        " of the response at once."
    )
    def favorite_count(
        self,
        info: Context,
        window: windows.TimeWindow = windows.TimeWindow.ALL_TIME,
        period: PeriodArgument = None,
    ) -> int:
        bucket = bucket_for(window, period, info.context.clock())
        return info.context.restaurants.count(str(self.id), bucket)

    @strawberry.field(
        description="False when the request has no identity. Read for every restaurant of"
        " the response at once."
    )
    def viewer_has_favorited(self, info: Context) -> bool:
        return info.context.restaurants.viewer_has_favorited(str(self.id))

    @classmethod
    def listed(cls, info: Context, restaurant_ids: list[str]) -> list[Restaurant]:
        """Restaurants a resolver returns, announced first so their fields are read together."""
        info.context.restaurants.announce(restaurant_ids)
        return [cls(id=strawberry.ID(restaurant_id)) for restaurant_id in restaurant_ids]


@strawberry.type(description="A restaurant's place in a ranking.")
class RankedRestaurant:
    rank: int = strawberry.field(description="1 for the most favorited; continues across pages.")
    restaurant_id: strawberry.ID
    favorite_count: int
    restaurant: Restaurant = strawberry.field(
        description="The restaurant of the row. Its favoriteCount in the ranking's window and"
        " period is this row's count (no read); other fields are read for all rows at once."
    )
    # The ranking this row belongs to: its cursor is bound to it.
    bucket: strawberry.Private[str]

    @strawberry.field(
        description="Pass as `after` to continue the ranking after this row. Valid for the"
        " same window and period only."
    )
    def cursor(self, info: Context) -> str:
        record = RankedRestaurantRecord(self.rank, str(self.restaurant_id), self.favorite_count)
        return info.context.rankings.cursor(record, self.bucket)


@strawberry.type
class Favorite:
    restaurant_id: strawberry.ID
    created_at: datetime


@strawberry.type
class FavoriteConnection:
    items: list[Favorite]
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")
    has_next_page: bool


@strawberry.type(description="The signed-in user.")
class Viewer:
    id: strawberry.ID

    @strawberry.field(description="The viewer's favorites, newest first.")
    def favorites(
        self, info: Context, first: int = 20, after: str | None = None
    ) -> FavoriteConnection:
        page = info.context.favorites.list_for_user(str(self.id), first, after)
        return FavoriteConnection(
            items=[
                Favorite(
                    restaurant_id=strawberry.ID(item.restaurant_id), created_at=item.created_at
                )
                for item in page.items
            ],
            end_cursor=page.end_cursor,
            has_next_page=page.has_next_page,
        )


@strawberry.type
class FavoritePayload:
    restaurant_id: strawberry.ID
    is_favorite: bool
    changed: bool = strawberry.field(description="False when it already was as asked.")

    @classmethod
    def of(cls, change: FavoriteChange) -> FavoritePayload:
        return cls(
            restaurant_id=strawberry.ID(change.restaurant_id),
            is_favorite=change.is_favorite,
            changed=change.changed,
        )


@strawberry.type
class Query:
    @strawberry.field(
        description="Restaurants by favorite count, highest first; ties by restaurant id."
        " Counts are updated from the favorites stream, usually within a second."
    )
    def top_restaurants(
        self,
        info: Context,
        window: windows.TimeWindow = windows.TimeWindow.ALL_TIME,
        period: PeriodArgument = None,
        first: int = 10,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="A row's `cursor`: the ranking continues after that row."
                " It must come from the same window and period."
            ),
        ] = None,
    ) -> list[RankedRestaurant]:
        bucket = bucket_for(window, period, info.context.clock())
        records = info.context.rankings.page(bucket, first, after)
        ids = [record.restaurant_id for record in records]
        restaurants = Restaurant.listed(info, ids)
        info.context.restaurants.prime_counts(
            bucket, ((record.restaurant_id, record.favorite_count) for record in records)
        )
        return [
            RankedRestaurant(
                rank=record.rank,
                restaurant_id=strawberry.ID(record.restaurant_id),
                favorite_count=record.favorite_count,
                restaurant=restaurant,
                bucket=bucket,
            )
            for record, restaurant in zip(records, restaurants, strict=True)
        ]

    @strawberry.field
    def restaurant(self, info: Context, id: strawberry.ID) -> Restaurant:
        [restaurant] = Restaurant.listed(info, [require_restaurant_id(str(id), "id")])
        return restaurant

    @strawberry.field(
        description=f"Restaurants by id, 1 to {MAX_IDS}, in the order asked (repeats"
        " included). An id nobody favorited is a restaurant with count 0."
    )
    def restaurants(self, info: Context, ids: list[strawberry.ID]) -> list[Restaurant]:
        return Restaurant.listed(info, require_restaurant_ids([str(id) for id in ids]))

    @strawberry.field(description="Null when the request has no identity.")
    def viewer(self, info: Context) -> Viewer | None:
        user_id = info.context.user_id
        return Viewer(id=strawberry.ID(user_id)) if user_id is not None else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Idempotent: a repeat changes nothing and says changed: false."
    )
    def favorite(self, info: Context, restaurant_id: strawberry.ID) -> FavoritePayload:
        user_id = info.context.require_user()
        restaurant = require_restaurant_id(str(restaurant_id))
        return FavoritePayload.of(info.context.favorites.add(user_id, restaurant))

    @strawberry.mutation(description="Removing what is not a favorite says changed: false.")
    def unfavorite(self, info: Context, restaurant_id: strawberry.ID) -> FavoritePayload:
        user_id = info.context.require_user()
        restaurant = require_restaurant_id(str(restaurant_id))
        return FavoritePayload.of(info.context.favorites.remove(user_id, restaurant))
