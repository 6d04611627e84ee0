"""The message catalog for the pages (issue 13): the same `domain.messages.CATALOG` the engine renders with."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import LangDep
from domain.messages import LANGS, catalog_for

router = APIRouter(prefix="/v1", tags=["portal"])


@router.get("/messages")
def messages(lang: LangDep) -> dict[str, object]:
    """Every message code's template in the reader's language (`?lang=` wins over Accept-Language; zh-CN
    by default). Public: words only, no data."""
    return {"lang": lang, "langs": list(LANGS), "messages": catalog_for(lang)}
