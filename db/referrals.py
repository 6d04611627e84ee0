"""Referrals (转介绍, issue 17): an owner's code on a raw lead attributes the lead to them; when the lead is won
the referrer earns the reward of their tier, once; the referrer's dealer is told.

- `check()` runs before intake (nothing is claimed or created when it refuses): an unknown code is a 422 on
  `referral_code`, an expired one or the customer's own (same customer, i.e. the same phone) a 409 with the reason.
- `attribute()` records the attribution after intake (one per lead; a repeat changes nothing).
- `on_won()` is called by the projection when a lead is won: the reward row is keyed by the lead, so a lead won
  twice (an order cancelled, then won again) or a retried activity rewards once.
"""

from __future__ import annotations

from datetime import datetime

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from db.engine import aware
from db.models import Notification, Referral, ReferralCode, ReferralReward, User
from domain.messages import CodedError
from domain.policy import RewardTier
from domain.stages import Role


class ReferralRefused(CodedError):
    def __init__(self, kind: str, **params: object):
        super().__init__(f"error.{kind}", **params)
        self.kind = kind


def check(session: Session, code: str, customer_key: str, now: datetime) -> ReferralCode:
    row = session.get(ReferralCode, code.strip().upper())
    if row is None:
        raise RequestValidationError([{"loc": ["body", "referral_code"], "type": "value_error.referral_code",
                                       "code": "invalid.unknown_referral_code", "msg": "unknown referral code"}])
    if aware(row.expires_at) < now:
        raise ReferralRefused("referral_expired", day=f"{aware(row.expires_at):%Y-%m-%d}")
    if row.customer_key == customer_key:
        raise ReferralRefused("self_referral")
    return row


def attribute(session: Session, code: ReferralCode, lead_id: str, referred_customer_key: str, at: datetime) -> bool:
    if session.get(Referral, lead_id) is not None:
        return False
    session.add(Referral(lead_id=lead_id, code=code.code, referrer_customer_key=code.customer_key,
                         referrer_dealer_id=code.dealer_id, referred_customer_key=referred_customer_key,
                         attributed_at=at))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def tier_for(nth: int, tiers: list[RewardTier]) -> str | None:
    eligible = [t for t in tiers if t.count <= nth]
    return max(eligible, key=lambda t: t.count).reward if eligible else None


def on_won(session: Session, lead_id: str, at: datetime, tiers: list[RewardTier]) -> ReferralReward | None:
    """The referred lead was won: the referrer's reward, once (flushes; the caller commits)."""
    referral = session.get(Referral, lead_id)
    if referral is None:
        return None
    existing = session.exec(select(ReferralReward).where(ReferralReward.lead_id == lead_id)).first()
    if existing is not None:
        return None
    if referral.won_at is None:
        referral.won_at = at
        session.add(referral)
    nth = 1 + session.exec(select(func.count()).select_from(ReferralReward)
                           .where(ReferralReward.referrer_customer_key == referral.referrer_customer_key)).one()
    reward = tier_for(nth, tiers)
    if reward is None:
        return None
    row = ReferralReward(reward_id=f"{referral.code}:{lead_id}", lead_id=lead_id, code=referral.code,
                         referrer_customer_key=referral.referrer_customer_key,
                         referrer_dealer_id=referral.referrer_dealer_id, nth=nth, reward=reward, earned_at=at)
    session.add(row)
    users: list[str | None] = list(session.exec(select(User.id).where(
        User.role == Role.DEALER_MANAGER.value, User.active, User.dealer_id == referral.referrer_dealer_id)).all())
    users = users or [None]
    for user_id in users:
        key = f"referral-reward:{row.reward_id}:{Role.DEALER_MANAGER.value}:{user_id or '-'}"
        if session.exec(select(Notification.id).where(Notification.idempotency_key == key)).first() is None:
            session.add(Notification(
                idempotency_key=key, lead_id=f"referral-{referral.code}", kind="referral_reward",
                recipient_role=Role.DEALER_MANAGER.value, recipient_user_id=user_id,
                dealer_id=referral.referrer_dealer_id,
                message=f"转介绍奖励：车主推荐的第 {nth} 位客户已成交，奖励 {reward} / "
                        f"a referral was won: reward {reward}",
                data={"reward_id": row.reward_id, "reward": reward, "nth": nth}, created_at=at))
    session.flush()
    return row
