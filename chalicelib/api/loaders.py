"""Per-request batching of what a ``Restaurant`` knows: its counts and the viewer's heart."""

from __future__ import annotations

from collections.abc import Container, Iterable

from chalicelib.favorites import FavoritesStore
from chalicelib.rankings import RankingStore


class RestaurantBatch:
    """``favoriteCount`` and ``viewerHasFavorited`` for every restaurant a request lists,
    in batched reads, never one read per row.

    Why not strawberry's DataLoader: it is async, and the Chalice view executes
    synchronously, where graphql-core completes a list depth-first (row 1's
    fields before row 2 is looked at). A loader that waits to collect keys from
    its siblings therefore never sees them. Instead, the resolvers that return
    restaurants (``topRestaurants``, ``restaurants``, ``restaurant``, and
    federation's ``_entities``) announce their ids here before any field of
    theirs resolves. The first field that misses then reads for every id
    of that list (the latest list that announced the id): one BatchGetItem per
    100 ids per kind of read, whatever the number of rows, and nothing for the
    lists whose rows never ask. Results live for the request only (a new batch per
    request context), so nothing is served stale across requests.

    A ranking primes the counts of its own bucket with the counts it ranked by,
    so ``favoriteCount`` in the ranking's window and period costs no read at all.

    Hearts come from the viewer's whole set of favorites, one Query of ``by_user``
    for the request, when the viewer has at most ``VIEWER_SET_LIMIT`` of them (the
    read-unit arithmetic is in ``chalicelib.favorites``); above that, from a
    BatchGetItem of each list's ids as for the counts.
    """

    def __init__(
        self, favorites: FavoritesStore, rankings: RankingStore, user_id: str | None
    ) -> None:
        self._favorites = favorites
        self._rankings = rankings
        self._user_id = user_id
        # Each restaurant's list (an ordered set: reads follow the rows' order).
        # Lists resolve one after the other, so the latest to name an id is the
        # one whose rows are being resolved.
        self._list_of: dict[str, dict[str, None]] = {}
        self._counts: dict[str, dict[str, int]] = {}
        # Hearts known for this request: primed by a mutation, or read by id.
        self._favorited: dict[str, bool] = {}
        self._set_read = False
        self._set: dict[str, bool] | None = None

    def announce(self, restaurant_ids: Iterable[str]) -> None:
        listed = dict.fromkeys(restaurant_ids)
        for restaurant_id in listed:
            self._list_of[restaurant_id] = listed

    def prime_counts(self, bucket: str, counts: Iterable[tuple[str, int]]) -> None:
        self._counts.setdefault(bucket, {}).update(counts)

    def prime_favorited(self, restaurant_id: str, favorited: bool) -> None:
        """What a mutation of this request made of the viewer's heart: no read needed."""
        self._favorited[restaurant_id] = favorited

    def _missing(self, known: Container[str], restaurant_id: str) -> list[str]:
        if restaurant_id not in self._list_of:
            self.announce([restaurant_id])
        return [rid for rid in self._list_of[restaurant_id] if rid not in known]

    def count(self, restaurant_id: str, bucket: str) -> int:
        known = self._counts.setdefault(bucket, {})
        if restaurant_id not in known:
            known.update(self._rankings.counts(self._missing(known, restaurant_id), bucket))
        return known[restaurant_id]

    def viewer_has_favorited(self, restaurant_id: str) -> bool:
        if self._user_id is None:
            return False
        if restaurant_id not in self._favorited:
            viewer_set = self._viewer_set()
            if viewer_set is not None:
                return viewer_set.get(restaurant_id, False)
            missing = self._missing(self._favorited, restaurant_id)
            favorited = self._favorites.favorited_among(self._user_id, missing)
            self._favorited.update((rid, rid in favorited) for rid in missing)
        return self._favorited[restaurant_id]

    def _viewer_set(self) -> dict[str, bool] | None:
        """The viewer's whole set of favorites, read once per request when it is small
        (``favorites_of``), with this container's own recent changes over it; None
        when it is too large to read whole."""
        if self._set_read is False:
            assert self._user_id is not None
            favorites = self._favorites.favorites_of(self._user_id)
            if favorites is None:
                self._set = None
            else:
                self._set = dict.fromkeys(favorites, True)
                self._set.update(self._favorites.recent.of(self._user_id))
            self._set_read = True
        return self._set
