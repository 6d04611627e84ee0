"""Small master data the tests reason about: four dealers of one brand, their people, the OEM's people."""

from __future__ import annotations

from db.models import Consultant, Dealer, User
from domain.models import Actor, Channel, RawLead, Timeframe
from domain.stages import Role

BRAND = "Aurora"

DEALERS = [
    Dealer(id="D-SH-1", name="Aurora Pudong", brand=BRAND, region="East", city="Shanghai", latitude=31.22,
           longitude=121.54, series=["A5", "A7"], stock={"A5": 10, "A7": 3}, conversion_90d=0.30, rating=4.6),
    Dealer(id="D-SH-2", name="Aurora Minhang", brand=BRAND, region="East", city="Shanghai", latitude=31.11,
           longitude=121.38, series=["A5"], stock={"A5": 2}, conversion_90d=0.20, rating=4.0, choice_right=True),
    Dealer(id="D-HZ-1", name="Aurora Hangzhou", brand=BRAND, region="East", city="Hangzhou", latitude=30.27,
           longitude=120.16, service_cities=["Shanghai", "Shaoxing"], series=["A5", "A7"], stock={"A5": 1},
           conversion_90d=0.10, rating=3.5, competitive_region=True),
    Dealer(id="D-GZ-1", name="Aurora Tianhe", brand=BRAND, region="South", city="Guangzhou", latitude=23.13,
           longitude=113.32, series=["A5", "A7"], stock={"A5": 4}, conversion_90d=0.25, rating=4.4),
]

# people have Chinese names, as the portal's people do (the pages and their screenshots show them)
USERS = [
    User(id="ops", name="王敏", role=Role.LEAD_OPS),
    User(id="ops-head", name="周建国", role=Role.HEAD_OF_LEAD_OPS),
    User(id="rev-1", name="孙丽", role=Role.REVIEW_TEAM),
    User(id="rev-2", name="钱进", role=Role.REVIEW_TEAM),
    User(id="rev-lead", name="吴刚", role=Role.REVIEW_TEAM_LEAD),
    User(id="rm-east", name="郑华", role=Role.REGIONAL_MANAGER, region="East"),
    User(id="rm-south", name="冯涛", role=Role.REGIONAL_MANAGER, region="South"),
    User(id="cc", name="陈晨", role=Role.CALL_CENTER),
]
_PEOPLE = {  # each dealer's manager, ops lead and two consultants
    "D-SH-1": ("张伟", "刘芳", "王磊", "李静"), "D-SH-2": ("赵敏", "黄勇", "周洁", "徐斌"),
    "D-HZ-1": ("孙强", "胡琳", "朱峰", "高燕"), "D-GZ-1": ("林涛", "何静", "罗军", "梁颖"),
}
for _d in DEALERS:
    slug = _d.id.lower()
    mgr, opslead, c1, c2 = _PEOPLE[_d.id]
    USERS += [
        User(id=f"{slug}-mgr", name=mgr, role=Role.DEALER_MANAGER, dealer_id=_d.id),
        User(id=f"{slug}-opslead", name=opslead, role=Role.DEALER_OPS_LEAD, dealer_id=_d.id),
        User(id=f"{slug}-c1", name=c1, role=Role.CONSULTANT, dealer_id=_d.id),
        User(id=f"{slug}-c2", name=c2, role=Role.CONSULTANT, dealer_id=_d.id),
    ]
CONSULTANTS = [Consultant(user_id=u.id, dealer_id=u.dealer_id) for u in USERS
               if u.role == Role.CONSULTANT and u.dealer_id is not None]


def actor(user_id: str) -> Actor:
    user = next(u for u in USERS if u.id == user_id)
    region = user.region or (next(d.region for d in DEALERS if d.id == user.dealer_id) if user.dealer_id else None)
    return Actor(user_id=user.id, role=Role(user.role), dealer_id=user.dealer_id, region=region, name=user.name)


def manager(dealer_id: str | None) -> Actor:
    assert dealer_id is not None, "the lead has no holding dealer"
    return actor(f"{dealer_id.lower()}-mgr")


def consultant(dealer_id: str | None, n: int = 1) -> Actor:
    assert dealer_id is not None, "the lead has no holding dealer"
    return actor(f"{dealer_id.lower()}-c{n}")


OPS, HEAD, CALL_CENTER, RM_EAST = actor("ops"), actor("ops-head"), actor("cc"), actor("rm-east")
REVIEWER, SECOND_REVIEWER = actor("rev-1"), actor("rev-2")


def raw_lead(n: int = 1, **overrides) -> RawLead:
    """A warm lead from Shanghai for the A5: dispatched straight away (grade B or better)."""
    fields = dict(
        external_id=f"web-{n}", channel=Channel.WEBSITE, brand=BRAND, customer_name=f"Customer {n}",
        phone=f"1380000{n:04d}", city="Shanghai", series="A5", model="A5 Pro", budget=220_000,
        timeframe=Timeframe.WITHIN_15_DAYS, financing_interest=True,
    )
    fields.update(overrides)
    return RawLead(**fields)
