"""The lead's search attributes, so ops can filter leads in the Temporal UI."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

LEAD_STAGE = SearchAttributeKey.for_keyword("LeadStage")
DEALER_ID = SearchAttributeKey.for_keyword("DealerId")
LEAD_GRADE = SearchAttributeKey.for_keyword("LeadGrade")
BRAND = SearchAttributeKey.for_keyword("Brand")
REGION = SearchAttributeKey.for_keyword("Region")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")

ALL_KEYS = (LEAD_STAGE, DEALER_ID, LEAD_GRADE, BRAND, REGION, SLA_BREACHED)

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "BOOL": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}"]
    return flags


async def register(client: Client, namespace: str = "default") -> None:
    """Register the search attributes the lead workflow uses (idempotent)."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes)
    except RPCError as err:  # the time-skipping test server only implements adding
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {
        key.name: _INDEXED[key.indexed_value_type.name] for key in ALL_KEYS if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
