"""Demo master data: one brand, dealers in six cities, their people, and the OEM's people.

    python -m devtools.seed        (idempotent; prints the demo users' tokens)

Tokens are written once to data/demo-tokens.json (they are not recoverable from the database).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlmodel import Session

from db.engine import default_engine
from db.models import Dealer, User
from devtools.users import issue_token
from domain.stages import Role

BRAND = "Aurora"
DEMO_BRAND, DEMO_SERIES = BRAND, ["A5", "A7", "E3"]
DEMO_CITIES = ["Shanghai", "Hangzhou", "Beijing", "Guangzhou", "Shenzhen", "Chengdu", "Suzhou"]
TOKENS_FILE = Path(os.environ.get("LEADFLOW_DEMO_TOKENS", "data/demo-tokens.json"))

# id, name, region, city, lat, lon, extra service cities, series, stock, conversion, rating, capacity, flags
DEALERS = [
    ("D-SH-01", "极光汽车 上海浦东店", "East", "Shanghai", 31.2215, 121.5440, ["Suzhou"], ["A5", "A7", "E3"],
     {"A5": 12, "A7": 4, "E3": 6}, 0.28, 4.7, 60, {}),
    ("D-SH-02", "极光汽车 上海闵行店", "East", "Shanghai", 31.1128, 121.3816, [], ["A5", "E3"],
     {"A5": 5, "E3": 2}, 0.22, 4.3, 40, {"choice_right": True}),
    ("D-HZ-01", "极光汽车 杭州西湖店", "East", "Hangzhou", 30.2741, 120.1551, ["Shaoxing"], ["A5", "A7"],
     {"A5": 7, "A7": 2}, 0.25, 4.5, 40, {"competitive_region": True}),
    ("D-BJ-01", "极光汽车 北京朝阳店", "North", "Beijing", 39.9219, 116.4436, ["Langfang"], ["A5", "A7", "E3"],
     {"A5": 9, "A7": 5, "E3": 3}, 0.26, 4.6, 60, {}),
    ("D-GZ-01", "极光汽车 广州天河店", "South", "Guangzhou", 23.1291, 113.3240, ["Foshan"], ["A5", "E3"],
     {"A5": 8, "E3": 5}, 0.24, 4.4, 50, {"competitive_region": True}),
    ("D-SZ-01", "极光汽车 深圳南山店", "South", "Shenzhen", 22.5333, 113.9304, [], ["A5", "A7", "E3"],
     {"A5": 6, "A7": 3, "E3": 4}, 0.27, 4.5, 50, {}),
    ("D-BJ-02", "极光汽车 北京海淀店", "North", "Beijing", 39.9593, 116.2981, [], ["A5", "E3"],
     {"A5": 4, "E3": 2}, 0.20, 4.2, 40, {"choice_right": True}),
    ("D-SZ-02", "极光汽车 深圳福田店", "South", "Shenzhen", 22.5410, 114.0540, ["Dongguan"], ["A5", "A7"],
     {"A5": 3, "A7": 2}, 0.19, 4.1, 40, {}),
    ("D-HZ-02", "极光汽车 杭州滨江店", "East", "Hangzhou", 30.2084, 120.2119, ["Shanghai"], ["A5", "E3"],
     {"A5": 2, "E3": 3}, 0.18, 4.0, 30, {}),
    ("D-CD-01", "极光汽车 成都高新店", "West", "Chengdu", 30.5728, 104.0668, ["Deyang"], ["A5", "A7"],
     {"A5": 5, "A7": 1}, 0.21, 4.2, 40, {"choice_right": True}),
]

OEM_USERS = [
    ("ops-wang", "王芳 (lead ops)", Role.LEAD_OPS, None),
    ("ops-head-zhao", "赵强 (head of lead ops)", Role.HEAD_OF_LEAD_OPS, None),
    ("review-chen", "陈静 (defeat review)", Role.REVIEW_TEAM, None),
    ("review-liu", "刘洋 (defeat review)", Role.REVIEW_TEAM, None),
    ("review-lead-sun", "孙丽 (review team lead)", Role.REVIEW_TEAM_LEAD, None),
    ("cc-zhou", "周敏 (call center)", Role.CALL_CENTER, None),
    ("rm-east", "吴涛 (regional manager East)", Role.REGIONAL_MANAGER, "East"),
    ("rm-north", "郑浩 (regional manager North)", Role.REGIONAL_MANAGER, "North"),
    ("rm-south", "冯雪 (regional manager South)", Role.REGIONAL_MANAGER, "South"),
    ("rm-west", "何军 (regional manager West)", Role.REGIONAL_MANAGER, "West"),
]


def demo_users() -> list[User]:
    users = [User(id=i, name=n, role=r.value, region=reg) for i, n, r, reg in OEM_USERS]
    for d in DEALERS:
        slug = d[0].lower()
        users += [
            User(id=f"{slug}-manager", name=f"{d[1]} 网销经理", role=Role.DEALER_MANAGER.value, dealer_id=d[0]),
            User(id=f"{slug}-opslead", name=f"{d[1]} 运营负责人", role=Role.DEALER_OPS_LEAD.value, dealer_id=d[0]),
            User(id=f"{slug}-c1", name=f"{d[1]} 销售顾问 1", role=Role.CONSULTANT.value, dealer_id=d[0], series=d[7]),
            User(id=f"{slug}-c2", name=f"{d[1]} 销售顾问 2", role=Role.CONSULTANT.value, dealer_id=d[0], series=d[7][:1]),
        ]
    return users


def seed(session: Session) -> dict[str, str]:
    """Load the demo data; returns tokens for users who did not have one yet."""
    for (id_, name, region, city, lat, lon, cities, series, stock, conv, rating, cap, flags) in DEALERS:
        session.merge(Dealer(id=id_, name=name, brand=BRAND, region=region, city=city, latitude=lat, longitude=lon,
                             service_cities=cities, series=series, stock=stock, conversion_90d=conv, rating=rating,
                             capacity=cap, **flags))
    session.commit()
    tokens = {}
    for user in demo_users():
        existing = session.get(User, user.id)
        if existing is None or existing.token_hash is None:
            user = session.merge(user)
            tokens[user.id] = issue_token(session, user)
    session.commit()
    return tokens


def main() -> None:
    with Session(default_engine()) as session:
        tokens = seed(session)
    known = json.loads(TOKENS_FILE.read_text()) if TOKENS_FILE.exists() else {}
    known.update(tokens)
    TOKENS_FILE.parent.mkdir(parents=True, exist_ok=True)
    TOKENS_FILE.write_text(json.dumps(known, indent=2, ensure_ascii=False))
    TOKENS_FILE.chmod(0o600)
    print(f"demo data loaded: {len(DEALERS)} dealers of {BRAND}; tokens in {TOKENS_FILE}")
    roles = {u.id: u.role for u in demo_users()}
    for user_id in ("ops-wang", "cc-zhou", "review-chen", "review-liu", "rm-east", "d-sh-01-manager", "d-sh-01-c1"):
        if user_id in known:
            print(f"  {user_id:<18} {roles[user_id]:<18} Bearer {known[user_id]}")


if __name__ == "__main__":
    main()
