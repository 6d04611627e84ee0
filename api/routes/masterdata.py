"""Master data: dealers (service area, series, stock, capacity, flags) and their consultants.

Lead ops own the dealer network; a dealer manager keeps their own stock and their team (series,
capacity, on duty). A dealer's people see only their own dealer: another dealer is "not found".
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.access import LEAD_OPS, own_dealer, require
from api.deps import ActorDep, SessionDep
from api.errors import Invalid, Problem, responses
from api.schemas import ConsultantView, DealerView
from db.models import Consultant, Dealer, Lead, User
from domain import places
from domain.stages import DEALER_ROLES, END_STAGES, Role
from ops.users import UserError, create_user

router = APIRouter(tags=["master data"])
# ids do not start with a dot: "." and ".." are path segments clients collapse (another route would answer)
ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
DealerId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
UserId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
Series = Annotated[str, Field(min_length=1, max_length=64)]
MANAGERS = LEAD_OPS | {Role.DEALER_MANAGER}


class DealerFields(BaseModel):
    """What lead ops may set on a dealer; every field optional on PATCH."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    region: str | None = Field(default=None, min_length=1, max_length=64)
    city: str | None = Field(default=None, min_length=1, max_length=64)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    service_cities: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(default=None,
                                                                                            max_length=200)
    service_radius_km: float | None = Field(default=None, gt=0, le=2000)
    series: list[Series] | None = Field(default=None, max_length=100)
    stock: dict[Series, Annotated[int, Field(ge=0, le=100_000)]] | None = None
    capacity: int | None = Field(default=None, ge=0, le=100_000)
    active: bool | None = None
    choice_right: bool | None = None
    competitive_region: bool | None = None
    auto_assign: bool | None = None


    @field_validator("city")
    @classmethod
    def _city(cls, value: str | None) -> str | None:
        return None if value is None else places.canonical_city(value)[1]  # PlaceError is a ValueError: 422

    @field_validator("service_cities")
    @classmethod
    def _cities(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(places.canonical_city(c)[1] for c in value))


class NewDealer(DealerFields):
    id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    brand: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)
    city: str = Field(min_length=1, max_length=64)


class StockUpdate(BaseModel):
    stock: dict[Series, Annotated[int, Field(ge=0, le=100_000)]]


class ConsultantFields(BaseModel):
    series: list[Series] | None = Field(default=None, max_length=100, description="empty: sells every series")
    max_open_leads: int | None = Field(default=None, ge=0, le=10_000)
    on_duty: bool | None = None


class NewConsultant(ConsultantFields):
    user_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=64)

    @field_validator("user_id")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class NewConsultantAnswer(BaseModel):
    consultant: ConsultantView
    token: str  # shown once: only its hash is stored


def _dealer(session, actor, dealer_id: str) -> Dealer:
    own_dealer(actor, dealer_id)
    dealer = session.get(Dealer, dealer_id)
    if dealer is None:
        raise Problem(404, "error.not_found", thing="dealer", id=dealer_id)
    return dealer


def _sold_only(sold: list[str], wanted, field: str) -> None:
    """422 naming the field when it names series the dealer does not sell."""
    unknown = sorted(set(wanted or []) - set(sold))
    if unknown:
        raise Invalid(("body", field), "invalid.series_not_sold", series="、".join(unknown))


def _saved(session, dealer: Dealer) -> DealerView:
    session.add(dealer)
    session.commit()
    return DealerView.model_validate(dealer, from_attributes=True)


def _not_null(changes: dict) -> None:
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise RequestValidationError([{"loc": ("body", k), "type": "value_error", "code": "invalid.not_null"}
                                      for k in nulls])


Row = TypeVar("Row", Consultant, Dealer, User)


def _existing(session: Session, model: type[Row], key: str) -> Row:
    """A row a foreign key (or the insert just before) guarantees: missing, it is a bug, not a 404."""
    row = session.get(model, key)
    if row is None:
        raise LookupError(f"{model.__name__} {key} is missing although a foreign key names it")
    return row


def _consultant_views(session: Session, rows: list[tuple[Consultant, User]]) -> list[ConsultantView]:
    ids = [c.user_id for c, _ in rows]
    counts = session.exec(select(Lead.consultant_id, func.count(), func.count().filter(col(Lead.sla_breached))).where(
        col(Lead.consultant_id).in_(ids), col(Lead.stage).not_in([s.value for s in END_STAGES])
    ).group_by(Lead.consultant_id)).all()
    load = {who: (total, breached) for who, total, breached in counts}
    return [ConsultantView(user_id=c.user_id, name=u.name, dealer_id=c.dealer_id, series=c.series,
                           max_open_leads=c.max_open_leads, on_duty=c.on_duty, active=u.active,
                           open_leads=load.get(c.user_id, (0, 0))[0], breached_leads=load.get(c.user_id, (0, 0))[1])
            for c, u in rows]


# ------------------------------------------------------------------ dealers

@router.get("/v1/dealers", response_model=list[DealerView])
def list_dealers(actor: ActorDep, session: SessionDep,
                 region: Annotated[str | None, Query(max_length=64)] = None,
                 city: Annotated[str | None, Query(max_length=64)] = None,
                 brand: Annotated[str | None, Query(max_length=64)] = None,
                 series: Annotated[str | None, Query(max_length=64)] = None,
                 active: bool | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                 offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0):
    """The dealer network (a dealer's people: their own dealer only)."""
    query = select(Dealer)
    if actor.role in DEALER_ROLES:
        query = query.where(Dealer.id == actor.dealer_id)
    for column, value in ((Dealer.region, region), (Dealer.brand, brand), (Dealer.active, active)):
        if value is not None:
            query = query.where(column == value)
    rows = session.exec(query.order_by(Dealer.id)).all()
    if city:  # 上海, Shanghai or 310000: one city (rows written before the names were canonical included)
        wanted = places.city_code(city)
        if wanted is None:
            raise Invalid(("query", "city"), "invalid.place_unknown", text=city)
        rows = [d for d in rows if places.city_code(d.city) == wanted]
    if series:  # a JSON list: filtered here, portable across SQLite and PostgreSQL
        rows = [d for d in rows if series in d.series]
    return [DealerView.model_validate(d, from_attributes=True) for d in rows[offset:offset + limit]]


@router.get("/v1/dealers/{dealer_id}", response_model=DealerView, responses=responses(404))
def get_dealer(dealer_id: DealerId, actor: ActorDep, session: SessionDep):
    return DealerView.model_validate(_dealer(session, actor, dealer_id), from_attributes=True)


@router.post("/v1/dealers", response_model=DealerView, status_code=201, responses=responses(403, 409))
def create_dealer(body: NewDealer, actor: ActorDep, session: SessionDep):
    """Add a dealer to the network (lead ops)."""
    require(actor, LEAD_OPS, "add_dealer")
    if session.get(Dealer, body.id) is not None:
        raise Problem(409, "error.dealer_exists", dealer=body.id)
    fields = body.model_dump(exclude_none=True)
    _sold_only(fields.get("series", []), fields.get("stock"), "stock")
    return _saved(session, Dealer(**fields))


@router.patch("/v1/dealers/{dealer_id}", response_model=DealerView, responses=responses(403, 404))
def update_dealer(dealer_id: DealerId, body: DealerFields, actor: ActorDep, session: SessionDep):
    """Change a dealer's service area, series, stock, capacity or flags (lead ops). Dispatch uses it at once."""
    require(actor, LEAD_OPS, "change_dealer")
    dealer = _dealer(session, actor, dealer_id)
    changes = body.model_dump(exclude_unset=True)
    _not_null({k: v for k, v in changes.items() if k not in ("latitude", "longitude", "service_radius_km")})
    _sold_only(changes.get("series", dealer.series), changes.get("stock", dealer.stock),
               "stock" if "stock" in changes else "series")
    for key, value in changes.items():
        setattr(dealer, key, value)
    return _saved(session, dealer)


@router.put("/v1/dealers/{dealer_id}/stock", response_model=DealerView, responses=responses(403, 404))
def update_stock(dealer_id: DealerId, body: StockUpdate, actor: ActorDep, session: SessionDep):
    """The dealer's stock per series (the dealer manager, or lead ops). Dispatch prefers dealers with stock."""
    require(actor, MANAGERS, "update_stock")
    dealer = _dealer(session, actor, dealer_id)
    _sold_only(dealer.series, body.stock, "stock")
    dealer.stock = body.stock
    return _saved(session, dealer)


# ------------------------------------------------------------------ consultants

@router.get("/v1/dealers/{dealer_id}/consultants", response_model=list[ConsultantView], responses=responses(404))
def list_consultants(dealer_id: DealerId, actor: ActorDep, session: SessionDep):
    """The dealer's consultants with their series, capacity, duty and current open leads."""
    _dealer(session, actor, dealer_id)
    rows = session.exec(select(Consultant, User).join(User).where(Consultant.dealer_id == dealer_id)
                        .order_by(Consultant.user_id)).all()
    return _consultant_views(session, list(rows))


@router.post("/v1/dealers/{dealer_id}/consultants", response_model=NewConsultantAnswer, status_code=201,
             responses=responses(403, 404, 409))
def add_consultant(dealer_id: DealerId, body: NewConsultant, actor: ActorDep, session: SessionDep):
    """A new consultant for the dealer (its manager, or lead ops): answers their sign-in token, once."""
    require(actor, MANAGERS, "add_consultant")
    dealer = _dealer(session, actor, dealer_id)
    if session.get(User, body.user_id) is not None:
        raise Problem(409, "error.user_id_taken", user=body.user_id)
    _sold_only(dealer.series, body.series, "series")
    try:
        token = create_user(session, body.user_id, body.name, Role.CONSULTANT, dealer_id, series=body.series or [])
    except UserError:
        raise Invalid(("path", "dealer_id"), "invalid.needs_dealer", role=Role.CONSULTANT.value) from None
    consultant = _existing(session, Consultant, body.user_id)
    consultant.max_open_leads = body.max_open_leads if body.max_open_leads is not None else consultant.max_open_leads
    consultant.on_duty = body.on_duty if body.on_duty is not None else True
    session.add(consultant)
    session.commit()
    return NewConsultantAnswer(consultant=_consultant_views(session,
                                                            [(consultant, _existing(session, User, body.user_id))])[0],
                               token=token)


@router.patch("/v1/consultants/{user_id}", response_model=ConsultantView, responses=responses(403, 404))
def update_consultant(user_id: UserId, body: ConsultantFields, actor: ActorDep, session: SessionDep):
    """Series, capacity (open leads at most) and duty of a consultant (their dealer's manager, or lead ops)."""
    require(actor, MANAGERS, "change_consultant")
    consultant = session.get(Consultant, user_id)
    if consultant is None or (actor.role in DEALER_ROLES and consultant.dealer_id != actor.dealer_id):
        raise Problem(404, "error.not_found", thing="consultant", id=user_id)
    changes = body.model_dump(exclude_unset=True)
    _not_null(changes)
    _sold_only(_existing(session, Dealer, consultant.dealer_id).series, changes.get("series"), "series")
    for key, value in changes.items():
        setattr(consultant, key, value)
    session.add(consultant)
    session.commit()
    return _consultant_views(session, [(consultant, _existing(session, User, user_id))])[0]
