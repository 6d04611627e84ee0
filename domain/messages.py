"""The message catalog: every text the engine sends to people, Chinese first (zh-CN), English second.

A plain data table, `CATALOG[code] = {"zh-CN": template, "en": template}`, and `render(code, params, lang)`.
Templates use `str.format` fields; a missing parameter renders as "" rather than failing (a notice must
never be lost to a template). Codes are the notification kinds the engine emits (`t.notify`/`t.alert` in
the lifecycle, every clock name in `domain.clocks.CLOCKS` for its lapse, the calendar's notices) plus the
push channels' own texts (`push.*`). Pure: no I/O.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

# a clock's lapse (an SLA alert): kind == the clock's name
_CLOCK_TITLES: dict[str, tuple[str, str]] = {
    "receipt": ("接收确认", "receipt confirmation"),
    "first_response": ("首次响应", "first response"),
    "public_pool": ("公海池（分配后首次跟进）", "first follow-up after assignment"),
    "first_deep_contact": ("首次深度沟通", "first deep contact"),
    "store_invitation": ("邀约到店", "store invitation"),
    "regional_follow_through": ("区域经理跟进", "regional follow-through"),
    "grade_cadence": ("跟进频次", "grade cadence"),
    "stall": ("连续 7 天未跟进", "stall"),
    "cleansing": ("线索清洗", "cleansing"),
    "transfer_review": ("调单审核", "transfer review"),
    "defeat_review": ("战败复核", "defeat review"),
    "appeal_window": ("申诉期", "appeal window"),
    "appeal_review": ("申诉复核", "appeal review"),
    "nurture_touch": ("培育内容", "nurture content"),
    "nurture_end": ("培育期满", "end of nurturing"),
    "reactivation": ("沉淀激活", "reactivation"),
    "revisit": ("购车 3 个月后回访", "revisit"),
    "revisit_overdue": ("回访逾期", "revisit overdue"),
}

CATALOG: dict[str, dict[str, str]] = {
    **{name: {"zh-CN": f"【超时提醒】{zh}：线索 {{lead}} 已超过截止时间，请立即处理。",
              "en": f"[SLA alert] {en}: lead {{lead}} is past its deadline; act now."}
       for name, (zh, en) in _CLOCK_TITLES.items()},
    # alerts that are not a clock's lapse
    "no_eligible_dealer": {"zh-CN": "【告警】线索 {lead} 无可派发经销商：{detail}",
                           "en": "[alert] no dealer can take lead {lead}: {detail}"},
    "regional_escalation": {"zh-CN": "【升级】区域经理 12 小时内未联系经销商，线索 {lead}。",
                            "en": "[escalation] the regional manager has not contacted the dealer within 12 h, lead "
                                  "{lead}."},
    "signal_refused": {"zh-CN": "【告警】线索 {lead} 的操作被拒：{detail}",
                       "en": "[alert] a signal to lead {lead} was refused: {detail}"},
    # assignments
    "lead_dispatched": {"zh-CN": "新线索 {lead} 已派发到本店，请确认接收。",
                        "en": "New lead {lead} dispatched to your dealership: confirm receipt."},
    "assignment_needed": {"zh-CN": "线索 {lead} 自动分配未找到顾问，请手动分配。",
                          "en": "Lead {lead}: auto-assign found nobody; assign it."},
    "lead_assigned": {"zh-CN": "线索 {lead} 已分配给您，请在 15 分钟内首次响应。",
                      "en": "Lead {lead} was assigned to you: respond within 15 minutes."},
    "lead_heated_up": {"zh-CN": "线索 {lead} 客户重新活跃：{detail}",
                       "en": "Lead {lead}: the customer is active again: {detail}"},
    "cleansing_needed": {"zh-CN": "线索 {lead} 待清洗：{detail}", "en": "Lead {lead} needs cleansing: {detail}"},
    "nurture_content": {"zh-CN": "线索 {lead}：请向客户发送培育内容。",
                        "en": "Lead {lead}: send the customer nurturing content."},
    "revisit_due": {"zh-CN": "线索 {lead}：购车已满 3 个月，请回访客户。",
                    "en": "Lead {lead}: 3 months since delivery, revisit the customer."},
    # approvals and reviews
    "transfer_review_needed": {"zh-CN": "线索 {lead} 申请调单，待审核：{detail}",
                               "en": "Lead {lead}: transfer requested, to review: {detail}"},
    "transfer_rejected": {"zh-CN": "线索 {lead} 调单被驳回：{detail}",
                          "en": "Lead {lead}: transfer rejected: {detail}"},
    "cancel_approval_needed": {"zh-CN": "线索 {lead} 申请退单，待审批：{detail}",
                               "en": "Lead {lead}: order cancellation to approve: {detail}"},
    "defeat_approval_needed": {"zh-CN": "线索 {lead} 申请战败，待审批：{detail}",
                               "en": "Lead {lead}: defeat application to approve: {detail}"},
    "defeat_review_needed": {"zh-CN": "线索 {lead} 战败待复核：{detail}",
                             "en": "Lead {lead}: defeat to review: {detail}"},
    "pseudo_defeat": {"zh-CN": "线索 {lead} 被判定为伪战败，请继续跟进。",
                      "en": "Lead {lead} was judged a pseudo-defeat: keep following it up."},
    "appeal_review_needed": {"zh-CN": "线索 {lead}：经销商对伪战败判定提出申诉，待复核。",
                             "en": "Lead {lead}: a dealer appealed a pseudo-defeat verdict, to review."},
    # the calendar's warnings
    "calendar_provisional": {"zh-CN": "{year} 年节假日安排尚未确认，截止时间按推算日历计算，请尽快确认。",
                             "en": "The {year} holiday schedule is not confirmed: deadlines are counted on the "
                                   "computed calendar; confirm it."},
    "calendar_unconfirmed": {"zh-CN": "{year} 年节假日安排尚未确认：请上传国务院安排并确认，避免工作日截止时间出错。",
                             "en": "The {year} holiday schedule is not confirmed yet: upload the State Council's "
                                   "schedule and confirm it."},
    # the push channels' own texts
    "push.digest": {"zh-CN": "{count} 条新提醒…", "en": "{count} new alerts…"},
    "push.test": {"zh-CN": "Leadflow 测试消息：渠道「{name}」配置正确。",
                  "en": "Leadflow test message: channel \"{name}\" works."},
    "push.target_broken": {"zh-CN": "推送渠道「{name}」连续 {failures} 次发送失败，已停用，请检查配置。",
                           "en": "Push channel \"{name}\" failed {failures} times in a row and is disabled: check "
                                 "its settings."},
    "push.escalated": {"zh-CN": "【升级】{minutes} 分钟未读：", "en": "[escalated] unread for {minutes} min: "},
}

SLA_ALERTS = frozenset(_CLOCK_TITLES) | {"regional_escalation"}  # what quiet hours do not hold back


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(code: str, params: Mapping[str, Any] | None = None, lang: str = DEFAULT_LANG) -> str:
    """The text of `code` in `lang` (zh-CN, else en); an unknown code renders its name, never fails."""
    texts = CATALOG.get(code)
    if texts is None:
        return code
    template = texts.get(lang) or texts[DEFAULT_LANG]
    return string.Formatter().vformat(template, (), _Lenient(params or {}))


def notice_params(lead_id: str, message: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A NotifyRequest's parameters for `render`: the short lead id, the engine's detail (after the colon of
    its English message: a reason code or a grade, never a name or a phone), and its data."""
    detail = message.split(": ", 1)[1] if ": " in message else ""
    return {"lead": lead_id.rsplit("-", 1)[-1][:10], "detail": detail, **(data or {})}
