"""The stages of a lead (SPEC section 3) and the roles that act on it (SPEC section 1)."""

from __future__ import annotations

from enum import StrEnum


class LeadStage(StrEnum):
    # the funnel, in order (monotonic for metrics)
    NEW = "new"
    CLEANSING = "cleansing"  # 线索清洗, at the call center
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    CONTACTED = "contacted"
    ENGAGED = "engaged"
    INVITED = "invited"
    VISITED = "visited"
    TEST_DRIVEN = "test_driven"
    QUOTED = "quoted"
    ORDERED = "ordered"
    WON = "won"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    # side stages
    TRANSFER_REVIEW = "transfer_review"  # 调单审核
    DEFEAT_PENDING_MANAGER = "defeat_pending_manager"
    DEFEAT_REVIEW = "defeat_review"  # 战败复核
    APPEAL_REVIEW = "appeal_review"
    CANCEL_PENDING = "cancel_pending"  # 退单待审批
    PUBLIC_POOL = "public_pool"  # 公海池
    NURTURING = "nurturing"  # 线索培育
    DORMANT = "dormant"  # 沉淀池
    CALL_CENTER = "call_center"
    # end states
    CLOSED_INVALID = "closed_invalid"
    CLOSED_LOST = "closed_lost"


FUNNEL: tuple[LeadStage, ...] = (
    LeadStage.NEW,
    LeadStage.CLEANSING,
    LeadStage.DISPATCHED,
    LeadStage.ACKNOWLEDGED,
    LeadStage.ASSIGNED,
    LeadStage.CONTACTED,
    LeadStage.ENGAGED,
    LeadStage.INVITED,
    LeadStage.VISITED,
    LeadStage.TEST_DRIVEN,
    LeadStage.QUOTED,
    LeadStage.ORDERED,
    LeadStage.WON,
    LeadStage.DELIVERED,
    LeadStage.COMPLETED,
)

END_STAGES = frozenset({LeadStage.COMPLETED, LeadStage.CLOSED_INVALID, LeadStage.CLOSED_LOST})

# Side stages a dealer-held lead steps into and comes back from (the stage to go back to is kept).
RETURNABLE_SIDE_STAGES = frozenset(
    {LeadStage.TRANSFER_REVIEW, LeadStage.DEFEAT_PENDING_MANAGER, LeadStage.CANCEL_PENDING}
)


_RANK = {stage.value: i for i, stage in enumerate(FUNNEL)}  # (asked for every stage move and clock start)


def funnel_rank(stage: LeadStage) -> int:
    """Position in the funnel; side stages rank -1 (they say nothing about progress)."""
    return _RANK.get(stage, -1)


def reached(stage: LeadStage, target: LeadStage) -> bool:
    return funnel_rank(stage) >= funnel_rank(target)


class Role(StrEnum):
    LEAD_OPS = "lead_ops"  # 线索运营
    HEAD_OF_LEAD_OPS = "head_of_lead_ops"
    REVIEW_TEAM = "review_team"  # 战败复核
    REVIEW_TEAM_LEAD = "review_team_lead"
    REGIONAL_MANAGER = "regional_manager"  # 区域经理
    CALL_CENTER = "call_center"  # 中央呼叫中心
    DEALER_MANAGER = "dealer_manager"  # 网销经理/展厅经理
    CONSULTANT = "consultant"  # 销售顾问
    DEALER_OPS_LEAD = "dealer_ops_lead"  # 运营负责人
    SYSTEM = "system"  # the engine itself, or an integration acting on the OEM's behalf

    @property
    def is_dealer_role(self) -> bool:
        return self in DEALER_ROLES


DEALER_ROLES = frozenset({Role.DEALER_MANAGER, Role.CONSULTANT, Role.DEALER_OPS_LEAD})
OEM_ROLES = frozenset(set(Role) - DEALER_ROLES)
