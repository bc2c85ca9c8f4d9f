"""Persisted documents on the GraphQL routes: Apollo's APQ protocol and trusted documents.

A request may name its document by hash instead of sending it, in
``extensions.persistedQuery = {"version": 1, "sha256Hash": ...}`` (GET or POST):

- an unknown hash answers ``PersistedQueryNotFound`` (code
  ``PERSISTED_QUERY_NOT_FOUND``), the answer on which Apollo's
  ``PersistedQueryLink`` and urql's ``persistedExchange`` send the document;
- a document sent with its hash is checked against it (a mismatch is refused
  and not stored) and stored once it has parsed and validated, so a stored
  document has passed the same limits as any other;
- with trusted documents on (``TRUSTED_DOCUMENTS_ONLY``), only the documents of
  the manifest run, named by hash or sent whole; nothing is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from strawberry.http import GraphQLRequestData

from chalicelib.documents import DocumentStore, document_hash
from chalicelib.errors import ServiceError

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Apollo's persisted query list (the output of its generate-persisted-query-manifest).
MANIFEST_FORMAT = "apollo-persisted-query-manifest"
# Shipped in the deployment zip beside this module; an empty list where none is used.
DEFAULT_MANIFEST = Path(__file__).with_name("trusted-documents.json")


class PersistedQueryNotFound(ServiceError):
    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        # The exact message the stock clients look for.
        super().__init__("PersistedQueryNotFound")


class PersistedQueryRefused(ServiceError):
    code = "BAD_USER_INPUT"


class NotATrustedDocument(ServiceError):
    code = "PERSISTED_QUERY_NOT_IN_LIST"

    def __init__(self) -> None:
        super().__init__(
            "this stage runs trusted documents only: the document is not in its manifest"
        )


def load_manifest(path: Path) -> dict[str, str]:
    """Hash -> document from an Apollo persisted query list; each id must hash its body."""
    manifest = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != 1:
        raise ValueError(f"{path}: not an {MANIFEST_FORMAT} version 1")
    documents: dict[str, str] = {}
    for operation in manifest.get("operations", []):
        body, sha256 = operation["body"], operation["id"]
        if document_hash(body) != sha256:
            raise ValueError(f"{path}: operation {operation.get('name')!r} does not hash to its id")
        documents[sha256] = body
    return documents


def _requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryRefused(
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<64 hex digits>"}'
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise PersistedQueryRefused(
            "extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits"
        )
    return sha256


@dataclass(frozen=True)
class Resolved:
    """A request with its document, and whether that document is to be stored once it
    has validated (it came with a hash the service did not know)."""

    data: GraphQLRequestData
    store_as: str | None = None


@dataclass
class PersistedDocuments:
    store: DocumentStore
    # The manifest's documents when only trusted documents run; None: APQ, anything runs.
    trusted: Mapping[str, str] | None = None

    def resolve(self, data: GraphQLRequestData) -> Resolved:
        sha256 = _requested_hash(data.extensions)
        if self.trusted is not None:
            wanted = sha256 or (document_hash(data.query) if data.query is not None else None)
            if (
                data.query is not None
                and sha256 is not None
                and document_hash(data.query) != sha256
            ):
                raise PersistedQueryRefused("the query does not hash to extensions.persistedQuery")
            if wanted is None or wanted not in self.trusted:
                raise NotATrustedDocument()
            return Resolved(replace(data, query=self.trusted[wanted]))
        if sha256 is None:
            return Resolved(data)
        if data.query is not None:
            if document_hash(data.query) != sha256:
                raise PersistedQueryRefused(
                    "the query does not hash to extensions.persistedQuery.sha256Hash:"
                    " it is neither run nor stored"
                )
            return Resolved(data, store_as=sha256)
        document = self.store.get(sha256)
        if document is None:
            raise PersistedQueryNotFound()
        return Resolved(replace(data, query=document))

    def stored(self, resolved: Resolved) -> None:
        """Keep a document that has parsed and validated, for every API instance."""
        if resolved.store_as is not None and resolved.data.query is not None:
            self.store.put(resolved.store_as, resolved.data.query)
