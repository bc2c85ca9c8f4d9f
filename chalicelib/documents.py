"""The PersistedDocuments table: GraphQL documents by sha256, for every API instance.

Apollo's automatic persisted queries (APQ) let a client send a document's hash
instead of the document. A document registered with one Lambda container must
serve every other, or each cold container would make every client resend: so
documents live in DynamoDB (with a TTL), behind a small in-process cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

# Documents are at most MAX_REQUEST_BODY_BYTES (16 KB by default): 500 of them stay
# within a few MB of a 512 MB function.
CACHED_DOCUMENTS = 500


def document_hash(document: str) -> str:
    """The hash APQ names a document by: sha256 of its UTF-8 text, lowercase hex."""
    return hashlib.sha256(document.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DocumentStore:
    """Documents by hash: the container's cache first, then the table.

    The table is a cache too (a document can always be sent again), so a failing
    table read or write is logged and answered as "not stored", never as an error
    of the request.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        ttl_days: int = 30,
        clock: Callable[[], datetime] = _utcnow,
        cached: int = CACHED_DOCUMENTS,
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_days * 86400
        self._clock = clock
        self._cached = cached
        self._cache: OrderedDict[str, str] = OrderedDict()

    def _remember(self, sha256: str, document: str) -> None:
        self._cache[sha256] = document
        self._cache.move_to_end(sha256)
        while len(self._cache) > self._cached:
            self._cache.popitem(last=False)

    def get(self, sha256: str) -> str | None:
        document = self._cache.get(sha256)
        if document is not None:
            self._cache.move_to_end(sha256)
            return document
        try:
            item = self._client.get_item(
                TableName=self._table,
                Key={"document_hash": {"S": sha256}},
                ProjectionExpression="document, expires_at",
            ).get("Item")
        except (BotoCoreError, ClientError):
            logger.warning("persisted documents: read of %s failed", sha256, exc_info=True)
            return None
        if item is None or "document" not in item:
            return None
        # TTL deletion lags expiry by up to days: an expired item is gone already.
        if int(item.get("expires_at", {}).get("N", "0")) < self._clock().timestamp():
            return None
        document = item["document"]["S"]
        if document_hash(document) != sha256:  # only a hand-edited item could
            logger.warning("persisted documents: %s does not hash to its key", sha256)
            return None
        self._remember(sha256, document)
        return document

    def put(self, sha256: str, document: str) -> None:
        """Store a document the caller has checked hashes to ``sha256``."""
        self._remember(sha256, document)
        expires_at = int(self._clock().timestamp()) + self._ttl_seconds
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "document_hash": {"S": sha256},
                    "document": {"S": document},
                    "expires_at": {"N": str(expires_at)},
                },
            )
        except (BotoCoreError, ClientError):
            logger.warning("persisted documents: write of %s failed", sha256, exc_info=True)
