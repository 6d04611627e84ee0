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
    "no_eligible_dealer": {"zh-CN": "【告警】线索 {lead} 无可派发经销商，请人工处理。",
                           "en": "[alert] no dealer can take lead {lead}: handle it by hand."},
    "regional_escalation": {"zh-CN": "【升级】区域经理 12 小时内未联系经销商，线索 {lead}。",
                            "en": "[escalation] the regional manager has not contacted the dealer within 12 h, lead {lead}."},
    "signal_refused": {"zh-CN": "【告警】线索 {lead} 的「{action}」操作被拒。",
                       "en": "[alert] {action} on lead {lead} was refused."},
    # assignments
    "lead_dispatched": {"zh-CN": "新线索 {lead} 已派发到本店，请确认接收。",
                        "en": "New lead {lead} dispatched to your dealership: confirm receipt."},
    "assignment_needed": {"zh-CN": "线索 {lead} 自动分配未找到顾问，请手动分配。",
                          "en": "Lead {lead}: auto-assign found nobody; assign it."},
    "lead_assigned": {"zh-CN": "线索 {lead} 已分配给您，请在 15 分钟内首次响应。",
                      "en": "Lead {lead} was assigned to you: respond within 15 minutes."},
    "lead_heated_up": {"zh-CN": "线索 {lead} 客户重新活跃：级别 {grade_before} → {grade}",
                       "en": "Lead {lead}: the customer is active again: grade {grade_before} → {grade}"},
    "cleansing_needed": {"zh-CN": "线索 {lead} 待清洗，请核实客户信息。",
                         "en": "Lead {lead} needs cleansing: verify the customer's details."},
    "nurture_content": {"zh-CN": "线索 {lead}：请向客户发送培育内容。", "en": "Lead {lead}: send the customer nurturing content."},
    "revisit_due": {"zh-CN": "线索 {lead}：购车已满 3 个月，请回访客户。",
                    "en": "Lead {lead}: 3 months since delivery, revisit the customer."},
    # approvals and reviews
    "transfer_review_needed": {"zh-CN": "线索 {lead} 申请调单，待审核：{reason_code}",
                               "en": "Lead {lead}: transfer requested, to review: {reason_code}"},
    "transfer_rejected": {"zh-CN": "线索 {lead} 调单被驳回：{detail}", "en": "Lead {lead}: transfer rejected: {detail}"},
    "cancel_approval_needed": {"zh-CN": "线索 {lead} 申请退单，待审批：{detail}",
                               "en": "Lead {lead}: order cancellation to approve: {detail}"},
    "defeat_approval_needed": {"zh-CN": "线索 {lead} 申请战败，待审批：{reason_code}",
                               "en": "Lead {lead}: defeat application to approve: {reason_code}"},
    "defeat_review_needed": {"zh-CN": "线索 {lead} 战败待复核：{reason_code}",
                             "en": "Lead {lead}: defeat to review: {reason_code}"},
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

# ---------------------------------------------------------------- words for codes (issue 13 section 1)
# Parameters named below are codes themselves and render through these tables in the reader's language:
# `timeframe`, `channel`, `clock`, `role`/`roles`, `region`, `stage`; money (`budget`, `amount`, `floor`) in ¥,
# times (`at`, `deadline`, `old_deadline`) in Asia/Shanghai, durations (`late_s`) in words.
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "timeframe": {"within_7_days": ("7 天内", "within 7 days"), "within_15_days": ("15 天内", "within 15 days"),
                  "within_30_days": ("30 天内", "within 30 days"), "within_90_days": ("90 天内", "within 90 days"),
                  "later": ("更晚", "later"), "unknown": ("未知", "unknown")},
    "channel": {"website": ("官网", "website"), "app": ("App", "app"), "mini_program": ("小程序", "mini program"),
                "douyin": ("抖音", "Douyin"), "autohome": ("汽车之家", "Autohome"), "yiche": ("易车", "Yiche"),
                "live_stream": ("直播", "live stream"), "hotline": ("400 热线", "hotline"), "auto_show": ("车展",
                                                                                                      "auto show"),
                "referral": ("转介绍", "referral"), "walk_in": ("自然到店", "walk-in"), "csv_import": ("CSV 导入", "CSV import"),
                "call": ("电话", "call"), "wechat": ("微信", "WeChat"), "sms": ("短信", "SMS"), "visit": ("到店", "visit")},
    "clock": {name: (zh, en) for name, (zh, en) in _CLOCK_TITLES.items()},
    "role": {"lead_ops": ("线索运营", "lead ops"), "head_of_lead_ops": ("线索运营负责人", "head of lead ops"),
             "review_team": ("战败复核", "review team"), "review_team_lead": ("复核组长", "review team lead"),
             "regional_manager": ("区域经理", "regional manager"), "call_center": ("中央呼叫中心", "call center"),
             "dealer_manager": ("网销经理", "dealer manager"), "consultant": ("销售顾问", "consultant"),
             "dealer_ops_lead": ("店端线索负责人", "dealer lead owner"), "system": ("系统", "system"),
             "customer": ("客户", "customer"), "integration": ("系统对接", "integration")},
    "region": {"East": ("华东", "East"), "North": ("华北", "North"), "South": ("华南", "South"), "West": ("西部", "West"),
               "Central": ("华中", "Central"), "Northeast": ("东北", "Northeast"), "Northwest": ("西北", "Northwest"),
               "Southwest": ("西南", "Southwest")},
    "grade_word": {},
}
_MONEY = {"budget", "amount", "floor", "deposit"}
_TIMES = {"at", "deadline", "old_deadline", "visit_at", "due_at"}
_SHANGHAI = "Asia/Shanghai"


def label(table: str, value: Any, lang: str = DEFAULT_LANG) -> str:
    """A code's words (`label("region", "East")` -> 华东); an unknown code shows as it is."""
    pair = LABELS.get(table, {}).get(str(value))
    if pair is None:
        return "" if value is None else str(value)
    return pair[0] if lang == "zh-CN" else pair[1]


def format_money(value: Any, lang: str = DEFAULT_LANG) -> str:
    """¥300,000 (both languages: the portal's money is yuan)."""
    try:
        return f"¥{round(float(value)):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


def format_time(value: Any, lang: str = DEFAULT_LANG) -> str:
    """A moment in Beijing time: 2026年12月5日 19:55 (zh-CN) / 5 Dec 2026 19:55 (en)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is None:
        from datetime import UTC
        value = value.replace(tzinfo=UTC)
    t = value.astimezone(ZoneInfo(_SHANGHAI))
    if lang == "zh-CN":
        return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"
    return f"{t.day} {t:%b %Y %H:%M}"


def format_duration(seconds: Any, lang: str = DEFAULT_LANG, *, working_days: bool = False) -> str:
    """The two largest units: 2小时, 1天3小时, 12分钟 (zh-CN) / 2 h, 1 d 3 h, 12 min (en); `working_days` counts 3个工作日."""
    try:
        s = int(abs(float(seconds)))
    except (TypeError, ValueError):
        return ""
    zh = lang == "zh-CN"
    if working_days:
        n = max(1, round(s / 86400))
        return f"{n}个工作日" if zh else f"{n} working day{'s' if n != 1 else ''}"
    units = [(86400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min"), (1, "秒", "s")]
    parts: list[str] = []
    for size, z, e in units:
        n, s = divmod(s, size)
        if n or parts:
            if n:
                parts.append(f"{n}{z}" if zh else f"{n} {e}")
            if len(parts) == 2 or (parts and size == 60):
                break
    if not parts:
        return "不到1分钟" if zh else "under 1 min"
    return "".join(parts) if zh else " ".join(parts)


def _words(params: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Parameters as people read them in `lang` (codes to words, money, Beijing time, durations)."""
    out: dict[str, Any] = {}
    sep = "、" if lang == "zh-CN" else ", "
    for k, v in params.items():
        base = k.removesuffix("_before").removesuffix("_after")  # a change's two sides read like the value itself
        if base == "action":
            out[k] = label("action", v, lang)
        elif base == "reason_code":
            out[k] = label("enum", v, lang)
        elif base in ("timeframe", "channel", "clock", "role", "region", "stage", "touchpoint", "purpose", "reward",
                      "what", "thing", "status", "step"):
            out[k] = STAGES.get(str(v), (v, v))[0 if lang == "zh-CN" else 1] if base == "stage" else label(base, v, lang)
        elif k == "roles" and isinstance(v, list | tuple):
            out[k] = sep.join(label("role", r, lang) for r in v)
        elif base in _MONEY:
            out[k] = format_money(v, lang)
        elif base in _TIMES:
            out[k] = format_time(v, lang)
        elif k == "late_s":
            out[k] = format_duration(v, lang)
        elif k == "percent":
            out[k] = f"{v}%"
        else:
            out[k] = v
    return out


STAGES: dict[str, tuple[str, str]] = {
    "new": ("新建", "new"), "cleansing": ("清洗中", "in cleansing"), "dispatched": ("已分发", "dispatched"),
    "acknowledged": ("已确认接收", "acknowledged"), "assigned": ("已分配", "assigned"), "contacted": ("已联系", "contacted"),
    "engaged": ("深度沟通", "engaged"), "invited": ("已邀约", "invited"), "visited": ("已到店", "visited"),
    "test_driven": ("已试驾", "test-driven"), "quoted": ("已报价", "quoted"), "ordered": ("已下订", "ordered"),
    "won": ("已成交", "won"), "delivered": ("已交车", "delivered"), "completed": ("已完成", "completed"),
    "transfer_review": ("调单审核中", "in transfer review"), "defeat_pending_manager": ("战败待经理审批",
                                                                                   "defeat awaiting the manager"),
    "defeat_review": ("战败复核中", "in defeat review"), "appeal_review": ("申诉复核中", "in appeal review"),
    "cancel_pending": ("退单待审批", "cancellation pending"), "public_pool": ("公海池", "in the public pool"),
    "nurturing": ("培育中", "nurturing"), "dormant": ("沉淀池", "dormant"), "call_center": ("呼叫中心处理", "at the call center"),
    "closed_invalid": ("已关闭（无效）", "closed (invalid)"), "closed_lost": ("已关闭（流失）", "closed (lost)"),
}


def _add(table: dict[str, tuple[str, str]], prefix: str = "") -> None:
    for code, (zh, en) in table.items():
        CATALOG[prefix + code] = {"zh-CN": zh, "en": en}


# score reasons (domain/scoring.py): one code per outcome of each of the 23 items
SCORE_REASONS: dict[str, tuple[str, str]] = {
    "city_unknown": ("未提供城市", "city unknown"),
    "city_served": ("{city}有经销商服务", "city {city} is served"),
    "city_not_served": ("{city}暂无经销商服务", "city {city} is not served"),
    "repeat_customer": ("老客户", "repeat customer"), "new_customer": ("新客户", "new customer"),
    "referred": ("老客户转介绍", "referred by a customer"), "not_referred": ("非转介绍", "not referred"),
    "consent_given": ("已授权联系", "consent given"), "no_consent": ("未授权联系", "no consent"),
    "contact_complete": ("姓名和城市齐全", "name and city given"), "contact_incomplete": ("缺少姓名或城市", "name or city missing"),
    "series_named": ("意向车系：{value}", "series named: {value}"), "no_series": ("未说明车系", "no series named"),
    "model_named": ("意向车型：{value}", "model named: {value}"), "no_model": ("未说明车型", "no model named"),
    "preferred_dealer_named": ("指定经销商：{value}", "preferred dealer named: {value}"),
    "no_preferred_dealer": ("未指定经销商", "no preferred dealer named"),
    "budget_given": ("预算 {budget}", "budget given: {budget}"), "no_budget": ("未提供预算", "no budget given"),
    "budget_fits": ("预算 {budget}，不低于 {floor}", "budget {budget} >= {floor}"),
    "budget_below": ("预算 {budget}，低于 {floor}", "budget {budget} below {floor}"),
    "timeframe_full": ("购车时间{timeframe}：满分", "timeframe {timeframe}: full points"),
    "timeframe_part": ("购车时间{timeframe}：得分 {percent}", "timeframe {timeframe}: {percent} of points"),
    "financing": ("有金融意向", "interested in financing"), "no_financing": ("无金融意向", "no financing interest"),
    "trade_in": ("有置换车辆", "has a car to trade in"), "no_trade_in": ("无置换需求", "no trade-in"),
    "best_channel": ("最佳渠道：{channel}（质量 {percent}）", "best channel {channel} (quality {percent})"),
    "live_stream_channel": ("通过直播进线", "came in through a live stream"),
    "walked_in": ("到店进线", "walked in to a store"),
    "site_visits": ("官网访问 {n} 次（{full_at} 次满分）", "{n} site visits (full at {full_at})"),
    "config_views": ("配置页浏览 {n} 次（{full_at} 次满分）", "{n} config-page views (full at {full_at})"),
    "app_activity": ("App/小程序活跃 {n} 次（{full_at} 次满分）", "{n} app/mini-program sessions (full at {full_at})"),
    "live_stream": ("参与直播 {n} 次（{full_at} 次满分）", "{n} live-stream joins (full at {full_at})"),
    "multi_channel": ("{n} 个不同渠道（{full_at} 个满分）", "{n} distinct channels (full at {full_at})"),
    "test_drive_booked": ("预约试驾 {n} 次（{full_at} 次满分）", "{n} test-drive bookings (full at {full_at})"),
    "quote_requested": ("询价 {n} 次（{full_at} 次满分）", "{n} quote requests (full at {full_at})"),
    "store_visit": ("到店 {n} 次（{full_at} 次满分）", "{n} store visits (full at {full_at})"),
    "deposit_intent": ("定金意向 {n} 次（{full_at} 次满分）", "{n} deposit intents (full at {full_at})"),
}
_add(SCORE_REASONS, "score.")


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(code: str, params: Mapping[str, Any] | None = None, lang: str = DEFAULT_LANG) -> str:
    """The text of `code` in `lang` (zh-CN, else en); an unknown code renders its name, never fails."""
    texts = CATALOG.get(code)
    if texts is None:
        return code
    lang = lang if lang in LANGS else DEFAULT_LANG
    template = texts.get(lang) or texts[DEFAULT_LANG]
    return string.Formatter().vformat(template, (), _Lenient(_words(params or {}, lang)))


def notice_params(lead_id: str, message: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A NotifyRequest's parameters for `render`: the short lead id, the engine's detail (after the colon of
    its English message: a reason code or a grade, never a name or a phone), and its data."""
    detail = message.split(": ", 1)[1] if ": " in message else ""
    # older notices carried their enum value only in the message ("defeat application: unreachable")
    return {"lead": lead_id.rsplit("-", 1)[-1][:10], "detail": detail, "reason_code": detail, **(data or {})}


# short names: a timeline event"s kind (`event.<kind>`) and a notice"s kind (`notice.<kind>`) (were web/i18n.js tables)
EVENT_NAMES: dict[str, tuple[str, str]] = {
    "lead_created": ("线索创建", "Lead created"),
    "scored": ("评分", "Scored"),
    "dispatched": ("派发", "Dispatched"),
    "acknowledged": ("确认接收", "Acknowledged"),
    "assigned": ("分配顾问", "Assigned"),
    "claimed": ("认领", "Claimed"),
    "declined": ("拒收", "Declined"),
    "follow_up_logged": ("跟进记录", "Follow up logged"),
    "transfer_requested": ("申请调单", "Transfer requested"),
    "transfer_approved": ("调单通过", "Transfer approved"),
    "transfer_rejected": ("调单驳回", "Transfer rejected"),
    "invited": ("邀约到店", "Invited"),
    "visited": ("到店", "Visited"),
    "test_driven": ("试驾", "Test driven"),
    "quoted": ("报价", "Quoted"),
    "ordered": ("下订", "Ordered"),
    "won": ("成交", "Won"),
    "delivered": ("交车", "Delivered"),
    "completed": ("完成", "Completed"),
    "cancel_requested": ("申请退单", "Cancel requested"),
    "cancel_approved": ("退单通过", "Cancel approved"),
    "cancel_rejected": ("退单驳回", "Cancel rejected"),
    "defeat_applied": ("申请战败", "Defeat applied"),
    "defeat_returned": ("战败申请退回", "Defeat returned"),
    "defeat_submitted": ("战败提交复核", "Defeat submitted"),
    "defeat_decided": ("战败裁定", "Defeat decided"),
    "pseudo_defeat_decided": ("判定伪战败", "Pseudo defeat decided"),
    "appeal_filed": ("提交申诉", "Appeal filed"),
    "appeal_decided": ("申诉裁定", "Appeal decided"),
    "appeal_window_closed": ("申诉期结束", "Appeal window closed"),
    "alert_raised": ("预警", "Alert raised"),
    "clock_lapsed": ("计时超时", "Clock lapsed"),
    "deadline_set": ("设定截止时间", "Deadline set"),
    "holding_ended": ("经销商持有结束", "Holding ended"),
    "raw_lead_merged": ("线索合并", "Raw lead merged"),
    "reassigned": ("改派", "Reassigned"),
    "moved_to_public_pool": ("回收至公海池", "Moved to public pool"),
    "no_eligible_dealer": ("无可派发经销商", "No eligible dealer"),
    "sent_to_call_center": ("转交呼叫中心", "Sent to call center"),
    "cleansing_started": ("开始清洗", "Cleansing started"),
    "cleansing_recorded": ("清洗结果", "Cleansing recorded"),
    "nurturing_started": ("开始培育", "Nurturing started"),
    "nurture_content_sent": ("培育内容已发送", "Nurture content sent"),
    "nurturing_ended": ("培育结束", "Nurturing ended"),
    "went_dormant": ("进入沉淀池", "Went dormant"),
    "reactivated": ("激活", "Reactivated"),
    "revisit_due": ("回访到期", "Revisit due"),
    "revisit_logged": ("回访记录", "Revisit logged"),
    "regional_manager_alerted": ("已通知区域经理", "Regional manager alerted"),
    "regional_contact_logged": ("区域经理已联络", "Regional contact logged"),
    "regional_escalation": ("升级至线索运营", "Regional escalation"),
    "penalty_recorded": ("记录处罚", "Penalty recorded"),
    "penalty_revoked": ("撤销处罚", "Penalty revoked"),
    "stall_detected": ("跟进停滞", "Stall detected"),
    "behaviour_recorded": ("客户行为", "Behaviour recorded"),
    "signal_refused": ("操作被拒", "Signal refused"),
    "closed_invalid": ("关闭（无效）", "Closed invalid"),
    "closed_lost": ("关闭（流失）", "Closed lost"),
    "calendar_provisional": ("节假日安排未确认", "Calendar provisional"),
    "deadline_moved": ("截止时间调整", "Deadline moved"),
}
NOTICE_NAMES: dict[str, tuple[str, str]] = {
    "no_eligible_dealer": ("无可派发经销商", "No eligible dealer"),
    "regional_escalation": ("区域跟进升级", "Regional escalation"),
    "signal_refused": ("操作被拒", "Signal refused"),
    "cleansing_needed": ("待清洗", "Cleansing needed"),
    "lead_heated_up": ("客户重新活跃", "Customer active again"),
    "lead_dispatched": ("新线索派发", "New lead dispatched"),
    "assignment_needed": ("待分配", "Assignment needed"),
    "lead_assigned": ("新分配线索", "Lead assigned to you"),
    "nurture_content": ("发送培育内容", "Send nurture content"),
    "revisit_due": ("回访到期", "Revisit due"),
    "transfer_review_needed": ("待审核调单", "Transfer to review"),
    "transfer_rejected": ("调单被驳回", "Transfer rejected"),
    "cancel_approval_needed": ("待审批退单", "Cancellation to approve"),
    "defeat_approval_needed": ("待审批战败", "Defeat to approve"),
    "defeat_review_needed": ("待复核战败", "Defeat to review"),
    "pseudo_defeat": ("判定伪战败", "Pseudo-defeat verdict"),
    "appeal_review_needed": ("待复核申诉", "Appeal to review"),
    "calendar_provisional": ("节假日安排未确认（截止时间按推算日历）",
                             "Holiday schedule not confirmed (deadlines on the computed calendar)"),
    "calendar_unconfirmed": ("明年节假日安排尚未确认", "Next year's holiday schedule is not confirmed"),
    "push_target_broken": ("推送渠道已停用", "Push channel disabled"),
}
EVENT_NAMES["policy_migrated"] = ("规则版本迁移", "Policy version migrated")
_add(EVENT_NAMES, "event.")
NOTICE_NAMES.update({"owner_care_task": ("车主关怀任务", "Owner-care task"),  # issue 17 (main)
                     "owner_care_task_lapsed": ("车主关怀任务逾期", "Owner-care task overdue"),
                     "referral_reward": ("转介绍奖励", "Referral reward")})
_add(NOTICE_NAMES, "notice.")

# enum values and actions as people read them (also were web/i18n.js tables)
LABELS["action"] = {
    "acknowledge": ("确认接收", "Acknowledge"),
    "decline": ("拒收", "Decline"),
    "assign": ("分配顾问", "Assign"),
    "claim": ("认领", "Claim"),
    "log_follow_up": ("记录跟进", "Log follow-up"),
    "request_transfer": ("申请调单", "Request transfer"),
    "review_transfer": ("审核调单", "Review transfer"),
    "invite": ("邀约到店", "Invite"),
    "record_visit": ("记录到店", "Record visit"),
    "record_test_drive": ("记录试驾", "Record test drive"),
    "record_quote": ("记录报价", "Record quote"),
    "record_order": ("记录下订", "Record order"),
    "request_cancel": ("申请退单", "Request cancellation"),
    "review_cancel": ("审批退单", "Review cancellation"),
    "record_win": ("记录成交", "Record win"),
    "record_delivery": ("记录交车", "Record delivery"),
    "log_revisit": ("记录回访", "Log revisit"),
    "apply_for_defeat": ("申请战败", "Apply for defeat"),
    "review_defeat_application": ("审批战败申请", "Review defeat application"),
    "decide_defeat": ("战败复核裁定", "Decide defeat"),
    "appeal": ("申诉", "Appeal"),
    "decide_appeal": ("申诉裁定", "Decide appeal"),
    "record_cleansing": ("记录清洗结果", "Record cleansing"),
    "reassign": ("改派", "Reassign"),
    "log_regional_contact": ("记录区域联络", "Log regional contact"),
}
LABELS["enum"] = {
    "call": ("电话", "Call"),
    "wechat": ("微信", "WeChat"),
    "sms": ("短信", "SMS"),
    "visit": ("到店", "Visit"),
    "test_drive": ("试驾", "Test drive"),
    "quote": ("报价", "Quote"),
    "region_mismatch": ("区域不符", "Region mismatch"),
    "demand_mismatch": ("需求不符", "Demand mismatch"),
    "other": ("其他", "Other"),
    "bought_other_brand": ("已购其他品牌", "Bought another brand"),
    "bought_from_other_dealer": ("已在其他经销商购买", "Bought from another dealer"),
    "no_short_term_plan": ("短期无购车计划", "No short-term plan"),
    "price_not_agreed": ("价格未谈拢", "Price not agreed"),
    "unreachable": ("无法联系", "Unreachable"),
    "invalid": ("无效", "Invalid"),
    "true_defeat": ("真实战败", "True defeat"),
    "pseudo_defeat": ("伪战败", "Pseudo-defeat"),
    "upheld": ("维持原判", "Upheld"),
    "overturned": ("撤销原判", "Overturned"),
    "verified": ("已核实", "Verified"),
    "nurture": ("转入培育", "Nurture"),
    "cash": ("全款", "Cash"),
    "loan": ("贷款", "Loan"),
}
LABELS["penalty"] = {
    "first_response_late": ("首次响应超时", "first response late"), "deep_contact_late": ("首次深度沟通超时",
                                                                                    "first deep contact late"),
    "invitation_late": ("邀约到店超时", "store invitation late"), "not_followed_up": ("分配后未跟进", "not followed up"),
    "stalled": ("连续 7 天未跟进", "stalled"), "pseudo_defeat": ("伪战败", "pseudo-defeat"),
}
LABELS["holding_end"] = {
    "declined": ("拒收", "declined"), "pseudo_defeat": ("伪战败", "pseudo-defeat"), "reassigned": ("改派", "reassigned"),
    "receipt_lapsed": ("超时未接收", "not acknowledged in time"), "transferred": ("调单", "transferred"),
    "true_defeat": ("真实战败", "defeat confirmed"),
}
for _k, (_zh, _en) in STAGES.items():
    CATALOG["stage." + _k] = {"zh-CN": _zh, "en": _en}
for _table in ("timeframe", "channel", "role", "region", "action", "enum", "penalty", "holding_end"):
    for _k, (_zh, _en) in LABELS[_table].items():
        CATALOG[f"{_table}.{_k}"] = {"zh-CN": _zh, "en": _en}

# ---------------------------------------------------------------- one sentence per timeline entry (issue 13 section 2)
# `timeline.<kind>`: what happened, from the entry's data; `render_entry` adds who did it and, for a clock's
# lapse, whom the engine told next. Free text people typed (notes, reasons) follows after a colon as typed.
TIMELINE: dict[str, tuple[str, str]] = {
    "lead_created": ("线索创建", "Lead created"),
    "scored": ("评分 {score} 分，级别 {grade}", "Scored {score}, grade {grade}"),
    "dispatched": ("派发到经销商 {dealer_name}", "Dispatched to {dealer_name}"),
    "acknowledged": ("确认接收线索", "Confirmed receipt of the lead"),
    "assigned": ("分配给{consultant}", "Assigned to {consultant}"),
    "claimed": ("从公海池认领线索", "Claimed the lead from the public pool"),
    "declined": ("拒收线索", "Declined the lead"),
    "follow_up_logged": ("记录跟进（{channel}）", "Logged a follow-up ({channel})"),
    "transfer_requested": ("申请调单（{reason}）", "Requested a transfer ({reason})"),
    "transfer_approved": ("调单审核通过", "Transfer approved"),
    "transfer_rejected": ("调单被驳回", "Transfer rejected"),
    "invited": ("邀约客户到店，预约 {visit_at}", "Invited the customer for {visit_at}"),
    "visited": ("客户到店", "The customer visited the store"),
    "test_driven": ("客户试驾", "The customer test-drove"),
    "quoted": ("报价 {amount}", "Quoted {amount}"),
    "ordered": ("客户下订，定金 {deposit}", "The customer ordered, deposit {deposit}"),
    "won": ("成交", "Won"), "delivered": ("交车", "Delivered"),
    "completed": ("线索完成", "Lead completed"),
    "cancel_requested": ("申请退单", "Requested an order cancellation"),
    "cancel_approved": ("退单审批通过", "Cancellation approved"), "cancel_rejected": ("退单被驳回", "Cancellation rejected"),
    "defeat_applied": ("申请战败（{reason_code}）", "Applied for defeat ({reason_code})"),
    "defeat_returned": ("战败申请被退回", "Defeat application returned"),
    "defeat_submitted": ("战败提交复核", "Defeat submitted for review"),
    "defeat_decided": ("战败复核裁定：{verdict}", "Defeat review verdict: {verdict}"),
    "pseudo_defeat_decided": ("判定为伪战败，记经销商处罚", "Judged a pseudo-defeat; the dealer is penalized"),
    "appeal_filed": ("经销商提交申诉", "The dealer appealed"),
    "appeal_decided": ("申诉裁定：{outcome}", "Appeal decided: {outcome}"),
    "appeal_window_closed": ("申诉期结束", "The appeal window closed"),
    "alert_raised": ("预警：{notice}，已提醒{roles}", "Alert: {notice}; told {roles}"),
    "clock_lapsed": ("{clock}超时（截止 {deadline}）", "{clock} lapsed (due {deadline})"),
    "clock_lapsed_late": ("{clock}超时 {late_s}", "{clock} is {late_s} late"),
    "deadline_set": ("{clock}开始计时，截止 {deadline}", "{clock} started, due {deadline}"),
    "deadline_moved": ("{clock}截止时间调整为 {deadline}（原 {old_deadline}）",
                       "{clock} now due {deadline} (was {old_deadline})"),
    "holding_ended": ("经销商持有结束（{reason}）", "The dealer's holding ended ({reason})"),
    "raw_lead_merged": ("新的原始线索已合并（{channel}）", "A new raw lead was merged ({channel})"),
    "reassigned": ("改派线索", "Reassigned the lead"),
    "moved_to_public_pool": ("回收至公海池", "Moved to the public pool"),
    "no_eligible_dealer": ("没有可派发的经销商", "No dealer can take the lead"),
    "sent_to_call_center": ("转交呼叫中心", "Sent to the call center"),
    "sent_to_call_center_why": ("转交呼叫中心（{reason_code}）", "Sent to the call center ({reason_code})"),
    "cleansing_started": ("进入线索清洗", "Cleansing started"),
    "cleansing_recorded": ("清洗结果：{outcome}", "Cleansing outcome: {outcome}"),
    "nurturing_started": ("进入培育", "Nurturing started"), "nurture_content_sent": ("已发送培育内容", "Nurturing content sent"),
    "nurturing_ended": ("培育结束", "Nurturing ended"), "went_dormant": ("进入沉淀池", "Went dormant"),
    "reactivated": ("线索重新激活", "Reactivated"), "revisit_due": ("购车满 3 个月，待回访", "Revisit due"),
    "revisit_logged": ("记录回访", "Logged the revisit"),
    "regional_manager_alerted": ("已通知区域经理", "The regional manager was told"),
    "regional_contact_logged": ("区域经理已联络经销商", "The regional manager contacted the dealer"),
    "regional_escalation": ("升级至线索运营", "Escalated to lead ops"),
    "penalty_recorded": ("记录处罚：{penalty}", "Penalty recorded: {penalty}"),
    "penalty_revoked": ("撤销处罚", "Penalty revoked"),
    "stall_detected": ("连续 7 天未跟进", "No follow-up for 7 days"),
    "behaviour_recorded": ("客户行为：{behaviour} {count} 次", "Customer activity: {behaviour} ×{count}"),
    "signal_refused": ("操作被拒：{action}", "Refused: {action}"),
    "closed_invalid": ("关闭为无效线索", "Closed as invalid"), "closed_lost": ("关闭为流失", "Closed as lost"),
    "policy_migrated": ("线索改用规则版本 {to_version}（原版本 {from_version}）",
                        "Moved to policy version {to_version} (was {from_version})"),
    "calendar_provisional": ("{year} 年节假日安排未确认，{clock}按推算日历计算",
                             "The {year} holiday schedule is unconfirmed; {clock} is counted on the computed calendar"),
    "notified": ("已提醒{roles}：{notice}", "Told {roles}: {notice}"),
    "who": ("{role} {name}", "{role} {name}"),
    "raw": ("{text}", "{text}"),  # a row written before codes: its text as it was
}
_add(TIMELINE, "timeline.")
_TYPED = ("note", "text", "explanation", "evidence")  # free text people typed: shown as typed
_ENGINE_NOTES = {"penalty_recorded"}  # there the note is the engine's own (English) words: the code says it
_TYPED_REASON = {"declined", "cancel_requested", "reassigned", "sent_to_call_center",
                 "policy_migrated"}  # there `reason` is typed text
_ENUM_PARAMS = {"reason": "enum", "reason_code": "enum", "verdict": "enum", "outcome": "enum", "action": "action",
                "penalty": "penalty", "payment": "enum"}


def _who(role: str, user: str | None, names: Mapping[str, str], lang: str) -> str:
    title = label("role", role, lang)
    name = names.get(user or "", "")
    return f"{title} {name}".strip() if name else title


def _roles(roles: list[str], consultant: str | None, names: Mapping[str, str], lang: str) -> str:
    sep = "、" if lang == "zh-CN" else ", "
    return sep.join(_who(r, consultant if r == "consultant" else None, names, lang) for r in roles)


def render_entry(entry: Mapping[str, Any], lang: str = DEFAULT_LANG, *, names: Mapping[str, str] | None = None,
                 consultant_id: str | None = None,
                 following: Mapping[str, Any] | list[Mapping[str, Any]] | None = None) -> str:
    """One sentence for a timeline entry: who, what happened (which clock, how late), what happens next.

    `names` maps user ids to people's names; `following`: the entries decided with it (a lapse's alert folds in).
    Never raises and never shows raw JSON: a kind without words shows its short name."""
    names = names or {}
    lang = lang if lang in LANGS else DEFAULT_LANG
    kind, data = str(entry.get("kind", "")), dict(entry.get("data") or {})
    if kind == "sent_to_call_center" and data.get("reason") == "pseudo-defeat":  # the engine's words before codes
        data.pop("reason")
        data["reason_code"] = "pseudo_defeat"
    params: dict[str, Any] = {}
    for k, v in data.items():
        if k == "reason" and kind == "holding_ended" and isinstance(v, str):
            params[k] = label("holding_end", v, lang)
        elif k in _ENUM_PARAMS and isinstance(v, str):
            params[k] = label(_ENUM_PARAMS[k], v, lang)
        elif k not in ("roles",):
            params[k] = v
    consultant = data.get("consultant_id") or consultant_id
    if "consultant_id" in data:
        params["consultant"] = _who("consultant", data["consultant_id"], names, lang)
    if "roles" in data and isinstance(data["roles"], list):
        params["roles"] = _roles(data["roles"], consultant, names, lang)
    if "behaviour" in data:
        params["behaviour"] = label("enum", data["behaviour"], lang)
    code = f"timeline.{kind}"
    if kind == "sent_to_call_center" and data.get("reason_code"):
        code = "timeline.sent_to_call_center_why"
    if kind.startswith("notified_"):
        notice = kind[len("notified_"):]
        params["notice"] = _notice_title(notice, lang)
        code = "timeline.notified"
    elif kind == "alert_raised":
        params["notice"] = _notice_title(str(data.get("alert", "")), lang)
    elif kind == "clock_lapsed":
        try:
            from datetime import datetime
            at = entry.get("at")
            at = datetime.fromisoformat(at) if isinstance(at, str) else at
            if not isinstance(at, datetime):
                raise TypeError("no time")
            late = (at - datetime.fromisoformat(str(data.get("deadline")))).total_seconds()
        except (TypeError, ValueError):
            late = 0
        if late >= 60:
            code, params["late_s"] = "timeline.clock_lapsed_late", late
    if data.get("reason_code") in CATALOG and str(data["reason_code"]).startswith("dispatch."):
        code, params = str(data["reason_code"]), dict(data.get("reason_params") or {})  # the OEM's explanation
    if code not in CATALOG:
        text = render(f"event.{kind}", {}, lang) if f"event.{kind}" in CATALOG else kind.replace("_", " ")
    else:
        text = render(code, params, lang)
    colon = "：" if lang == "zh-CN" else ": "
    typed_keys = () if kind in _ENGINE_NOTES else _TYPED + (("reason",) if kind in _TYPED_REASON else ())
    typed = next((str(data[k]) for k in typed_keys if isinstance(data.get(k), str) and data[k].strip()), "")
    if typed:
        text += colon + typed
    after = [following] if isinstance(following, Mapping) else list(following or [])
    clock = data.get("clock")
    told_by = next((f for f in after if f.get("kind") == f"notified_{clock}"
                    or (f.get("kind") == "alert_raised" and (f.get("data") or {}).get("alert") == clock)), None)
    if data.get("refusal") in CATALOG:  # a refused signal: why, in the reader's language
        text += colon + render(data["refusal"], data.get("refusal_params") or {}, lang)
    if kind == "clock_lapsed" and told_by:
        roles = (told_by.get("data") or {}).get("roles") or []
        if roles:
            told = _roles(list(roles), consultant_id, names, lang)
            text += colon + (f"已提醒{told}" if lang == "zh-CN" else f"told {told}")
    role = str(entry.get("role", "system"))
    if role != "system" and kind not in ("clock_lapsed", "alert_raised") and not kind.startswith("notified_"):
        text = _who(role, str(entry.get("actor", "")), names, lang) + colon + text
    return text[:1].upper() + text[1:] if lang == "en" else text


def _notice_title(kind: str, lang: str) -> str:
    for code in (f"notice.{kind}", f"clock.{kind}"):
        if code in CATALOG:
            return render(code, {}, lang)
    if kind in LABELS["clock"]:
        return label("clock", kind, lang) + ("超时" if lang == "zh-CN" else " lapsed")
    return kind.replace("_", " ")


def catalog_for(lang: str) -> dict[str, str]:
    """Every code's template in one language (what the pages load)."""
    lang = lang if lang in LANGS else DEFAULT_LANG
    return {code: texts.get(lang) or texts[DEFAULT_LANG] for code, texts in sorted(CATALOG.items())}


def negotiate(query_lang: str | None, accept_language: str | None) -> str:
    """The reader's language: `?lang=` wins, then Accept-Language (by q), else zh-CN."""
    def pick(tag: str) -> str | None:
        tag = tag.strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
        return None
    if query_lang and (chosen := pick(query_lang)):
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if (chosen := pick(tag)) and weight > 0:
            ranked.append((-weight, i, chosen))
    return min(ranked)[2] if ranked else DEFAULT_LANG


DISPATCH: dict[str, tuple[str, str]] = {
    "line": ("派发给贵店：第 {rank} 名，共 {considered} 家参与", "Dispatched to your dealer: rank {rank} of {considered}"),
    "line_total": ("派发给贵店：第 {rank} 名，共 {considered} 家参与，得分 {total}",
                   "Dispatched to your dealer: rank {rank} of {considered}, score {total}"),
    "factor.distance": ("距离", "Distance"), "factor.stock": ("库存", "Stock"), "factor.conversion": ("近 90 天转化率",
                                                                                                  "90-day conversion"),
    "factor.rating": ("评分", "Rating"), "factor.load": ("空闲产能", "Spare capacity"), "factor.penalties": ("处罚记录",
                                                                                                       "Penalty record"),
    "factor": ("因素", "Factor"), "value": ("得分", "Score"), "rank": ("排名", "Rank"), "total": ("总分", "Total"),
    "details": ("详情", "Details"),
    # the engine's dispatch explanation (domain/dispatch.py), as the OEM reads it
    "top_score": ("派发给 {dealer_name}：{candidates} 家候选中得分最高（{total}），{excluded} 家不符合条件",
                  "Dispatched to {dealer_name}: the top score ({total}) of {candidates} candidates; {excluded} not eligible"),
    "tied": ("派发给 {dealer_name}：{candidates} 家候选中得分并列最高（{total}），按轮转选定，{excluded} 家不符合条件",
             "Dispatched to {dealer_name}: tied top score ({total}) of {candidates} candidates, broken round-robin; {excluded} not eligible"),
    "preferred": ("派发给 {dealer_name}：客户指定的经销商（得分 {total}，第 {rank} 名，共 {candidates} 家候选）",
                  "Dispatched to {dealer_name}: the customer's preferred dealer (score {total}, rank {rank} of {candidates})"),
    "none": ("没有可接收的经销商：{dealers} 家经销商中 {excluded} 家不符合条件，其余无空闲产能",
             "No dealer can take the lead: {excluded} of {dealers} dealers are not eligible, the others have no free capacity"),
}
_add(DISPATCH, "dispatch.")


# why the lead refused an action (domain/lifecycle `Refused(..., code=...)`): API answers render these
REFUSALS: dict[str, tuple[str, str]] = {
    "no_choice_right": ("贵店没有线索自主选择权，不能拒收派发的线索", "this dealer has no choice-right: it cannot decline dispatched leads"),
    "defeat_needs_follow_up": ("申请战败至少需要一条跟进记录作为依据",
                               "a defeat application needs at least one logged follow-up as evidence"),
    "no_verdict_to_appeal": ("此线索没有可申诉的伪战败判定", "there is no pseudo-defeat verdict open to appeal on this lead"),
    "appeal_window_closed": ("申诉期（判定后 2 个工作日）已结束", "the appeal window (2 working days after the verdict) has closed"),
    "not_the_judged_dealer": ("只有被判定的经销商可以申诉", "only the dealer that was judged may appeal"),
    "no_appeal_waiting": ("此线索没有待裁定的申诉", "there is no appeal waiting for a decision on this lead"),
    "second_reviewer": ("申诉须由另一位复核人员裁定，不能由原判定人裁定",
                        "an appeal is decided by a second reviewer, not the one who gave the verdict"),
    "previous_holder": ("经销商 {dealer} 曾持有此线索：线索不会退回原持有经销商",
                        "dealer {dealer} held this lead before: a lead never goes back to a previous holder"),
    "cleansing_name_a_dealer": ("清洗中的线索须经呼叫中心核实后才能派发，请指定经销商",
                                "a lead in cleansing goes to a dealer only after the call center verified it; name a dealer"),
    "no_regional_alert": ("此线索没有待跟进的区域预警", "there is no open regional alert on this lead to follow through"),
    "wrong_role": ("「{action}」不能由{role}操作", "{action} is not done by the {role}"),
    "not_your_dealer": ("此线索不在贵店名下", "this lead is not held by your dealer"),
    "not_in_your_pool": ("此线索不在贵店公海池中", "this lead is not in your dealer's public pool"),
    "claimed_by_another": ("认领失败：另一位销售顾问已先认领此线索", "claim refused: another consultant claimed this lead first"),
    "not_assigned_to_you": ("此线索未分配给您", "this lead is not assigned to you"),
    "outside_region": ("此线索不在您的区域", "this lead is outside your region"),
    "stage": ("线索处于「{stage}」阶段，不能「{action}」", "{action} is not allowed while the lead is {stage}"),
    "closed_no_raw_leads": ("线索已{stage}，不再接收新的原始线索", "the lead is {stage}: it takes no new raw leads"),
    "closed_no_behaviour": ("线索已{stage}，客户行为不再计入", "the lead is {stage}: behaviour no longer counts"),
    # refused by the lead's workflow itself (workflows/lead.py), before the decider
    "not_taken_in": ("线索尚在受理中，请稍后再试", "the lead has not been taken in yet: try again in a moment"),
    "decline_quota": ("拒收失败：已超出自主选择权配额（近 {days} 天推送的 {pushed} 条线索中已拒收 {declined} 条，配额为 {percent}）",
                      "decline refused: over the choice-right quota ({declined} of {pushed} leads pushed in the last "
                      "{days} days declined; the quota is {percent})"),
    "claim_limit": ("认领失败：您已有 {open} 条未结线索，上限为 {limit} 条",
                    "claim refused: you carry {open} open leads, your limit is {limit}"),
}
_add(REFUSALS, "refused.")


# ---------------------------------------------------------------- owner care (issue 17), referrals, push targets
# `owner.task.<touchpoint>`: a touchpoint's task title and the owner's SMS (domain/owner_care.py reads them here)
OWNER_TASKS: dict[str, tuple[str, str]] = {
    "first_maintenance": ("首次保养提醒", "first maintenance due"),
    "maintenance": ("年度保养提醒", "yearly maintenance due"),
    "insurance_renewal": ("保险续保提醒（30 天后到期）", "insurance renewal: the policy expires in 30 days"),
    "anniversary": ("购车周年问候", "purchase anniversary greeting"),
    "birthday": ("生日问候", "birthday greeting"),
    "trade_in_review": ("置换评估：车主可能考虑换购新车型", "trade-in review: the owner may be ready for a new model"),
}
_add(OWNER_TASKS, "owner.task.")
LABELS["touchpoint"] = {
    "first_maintenance": ("首次保养", "first maintenance"), "maintenance": ("年度保养", "yearly maintenance"),
    "insurance_renewal": ("保险续保", "insurance renewal"), "anniversary": ("购车周年", "purchase anniversary"),
    "birthday": ("生日问候", "birthday greeting"), "trade_in_review": ("置换评估", "trade-in review"),
}
LABELS["purpose"] = {"service": ("服务提醒", "service reminders"), "marketing": ("营销", "marketing"),
                     "referral": ("转介绍", "referral")}
LABELS["reward"] = {"maintenance_voucher": ("保养券", "a maintenance voucher"), "charger": ("充电桩", "a charger")}
for _table in ("touchpoint", "purpose", "reward"):
    for _k, (_zh, _en) in LABELS[_table].items():
        CATALOG[f"{_table}.{_k}"] = {"zh-CN": _zh, "en": _en}
CATALOG.update({
    # notices to the dealer's people (activities/owner_care.py, db/referrals.py, channels/delivery.py)
    "owner_care_task": {"zh-CN": "车主关怀任务：{touchpoint}，请在 {due_at} 前完成。",
                        "en": "Owner-care task: {touchpoint}, due {due_at}."},
    "owner_care_task_lapsed": {"zh-CN": "车主关怀任务逾期：{touchpoint}，请尽快处理。",
                               "en": "Owner-care task overdue: {touchpoint}; do it now."},
    "referral_reward": {"zh-CN": "转介绍奖励：车主推荐的第 {nth} 位客户已成交，奖励{reward}。",
                        "en": "Referral reward: the owner's referral no. {nth} was won, earning {reward}."},
    "push_target_broken": dict(CATALOG["push.target_broken"]),
    # why no SMS went to the owner (a task's message note)
    "owner.no_consent": {"zh-CN": "车主未授权「{purpose}」类消息", "en": "the owner has not consented to {purpose}"},
})
# `owner.sms.<touchpoint>`: the SMS to the owner (the gateway adds its signature 【…】), then how to unsubscribe
OWNER_SMS: dict[str, tuple[str, str]] = {
    "first_maintenance": ("尊敬的车主，您的爱车已到首次保养时间，欢迎预约{dealer}到店保养。",
                          "Dear owner, your car is due for its first maintenance: book a visit at {dealer}."),
    "maintenance": ("尊敬的车主，您的爱车已到年度保养时间，欢迎预约{dealer}到店保养。",
                    "Dear owner, your car is due for its yearly maintenance: book a visit at {dealer}."),
    "insurance_renewal": ("尊敬的车主，您的车险将于 30 天后到期，{dealer}可为您办理续保。",
                          "Dear owner, your car insurance expires in 30 days: {dealer} can renew it for you."),
    "anniversary": ("尊敬的车主，今天是您提车的周年纪念日，{dealer}感谢您一路相伴。",
                    "Dear owner, today is the anniversary of your car's delivery: thank you from {dealer}."),
    "birthday": ("尊敬的车主，{dealer}祝您生日快乐！", "Dear owner, {dealer} wishes you a happy birthday!"),
    "trade_in_review": ("尊敬的车主，{dealer}为您准备了置换新车的专属礼遇，欢迎到店了解。",
                        "Dear owner, {dealer} has a trade-in offer on the new models for you: visit us to learn more."),
}
# every owner SMS ends with how to unsubscribe: a reply, and the link (" https://…") when the portal's address is set
_add({k: (zh + "回复TD退订{link}", en + " Reply TD to unsubscribe{link}") for k, (zh, en) in OWNER_SMS.items()},
     "owner.sms.")

# ---------------------------------------------------------------- policy versions (issue 16)
POLICY: dict[str, tuple[str, str]] = {
    "seeded": ("随产品发布的策略文件", "The policy file shipped with the product"),
    # the sections of a policy document, naming a draft's changed settings
    "section.clocks": ("计时", "Clocks"), "section.working_days": ("工作日计时", "Working-day clocks"),
    "section.calendar": ("工作日历", "Calendar"), "section.rules": ("规则", "Rules"),
    "section.scoring": ("评分", "Scoring"), "section.dispatch": ("派发", "Dispatch"),
    "section.scorecard": ("经销商考核", "Scorecard"), "section.notify": ("通知", "Notifications"),
    "section.owner_care": ("车主关怀", "Owner care"), "section.name": ("名称", "Name"),
    "section.version": ("版本号", "Version"),
    "yes": ("是", "yes"), "no": ("否", "no"),
}
_add(POLICY, "policy.")

# ---------------------------------------------------------------- the what-if simulator's report (domain/simulate.py)
# `sim.why.*`: what differs for one lead; `sim.assumption.*`: what the simulator assumed (the report states them)
SIMULATION: dict[str, tuple[str, str]] = {
    "why.grade": ("级别 {grade_before} → {grade_after}", "grade {grade_before} → {grade_after}"),
    "why.lapses": ("{clock}超时 {n_before} 次 → {n_after} 次", "{clock} lapses {n_before} → {n_after}"),
    "why.dispatched": ("派发 {dealers_before} → {dealers_after}", "dispatched to {dealers_before} → {dealers_after}"),
    "why.penalties": ("处罚 {penalties_before} → {penalties_after}", "penalties {penalties_before} → {penalties_after}"),
    "why.reviews": ("待审核 {n_before} 次 → {n_after} 次", "reviews {n_before} → {n_after}"),
    "why.stage": ("阶段 {stage_before} → {stage_after}", "stage {stage_before} → {stage_after}"),
    "why.furthest": ("最远阶段 {stage_before} → {stage_after}", "furthest stage {stage_before} → {stage_after}"),
    "why.assumed": ("基于 {n} 项假设（见“假设”）", "{n} assumption(s) made (see Assumptions)"),
    "assumption.score_reused": ("草案要求重新评分时，沿用了线索最后一次记录的评分",
                                "a rescoring the draft asked for reused the lead's last recorded score"),
    "assumption.dispatch_from_recorded_candidates": (
        "实际未发生的派发，派给了记录中未持有过此线索的最佳候选经销商",
        "a dispatch reality never made went to the best recorded candidate that had not held the lead"),
    "assumption.working_day_deadline_estimated": ("未记录的工作日截止时间按自然日估算（×7/5）",
                                                  "a working-day deadline not recorded was estimated in calendar days "
                                                  "(×7/5)"),
    "assumption.consultant_pick_not_recorded": ("实际未发生的自动分配，假设未找到销售顾问",
                                                "an auto-assignment reality never asked for found nobody"),
    "assumption.dealer_attributes_from_recorded_dispatch": (
        "由另一家经销商接收时，其自主选择权、区域和自动分配沿用记录中的中标经销商",
        "another dealer won: its choice right, region and auto-assign were taken from the recorded winner"),
    "assumption.recorded_action_not_allowed": (
        "记录中的「{action}」在模拟的线索上无法执行（例如线索已转到其他经销商）：已跳过，假设当事人未操作",
        "a recorded {action} was not possible on the simulated lead (e.g. the lead had moved to another dealer): "
        "skipped; the person is assumed not to have acted"),
    "assumption.recorded_not_asked": ("草案下的线索从未询问的记录答复，未被使用",
                                      "a recorded answer the draft's lead never asked for was left unused"),
    "assumption.score_not_recorded": ("草案要求评分，但线索从未记录评分：跳过评分",
                                      "the draft asked for a score the lead never recorded: scoring skipped"),
    "assumption.recorded_intake_refused": ("记录中的一条原始线索在草案下被拒收：已跳过",
                                           "a recorded raw lead was refused under the draft: skipped"),
    "assumption.fact_before_intake": ("线索受理之前的记录：已跳过", "a recorded fact from before the intake: skipped"),
    "assumption.recorded_behaviour_refused": ("记录中的客户行为在草案下不再计入：已跳过",
                                              "recorded customer behaviour no longer counted under the draft: "
                                              "skipped"),
    "assumption.other": ("其他假设（{kind}）", "another assumption ({kind})"),
}
_add(SIMULATION, "sim.")


# ---------------------------------------------------------------- the API's own answers (api/errors.py)
# `error.*`: why a request was not done (403, 404, 409, 401, 429, 503, ...); `invalid.*`: a field at fault (422),
# one per pydantic error type (its `ctx` are the parameters) and one per rule of our own (`CodedError`).
LABELS["what"] = {
    "decoding": ("解码客户数据", "decoding customer data"), "edit_ownership": ("编辑车主档案", "editing an ownership"),
    "dms_event": ("提交 DMS 事件", "posting a DMS event"), "stop_owner_care": ("停止车主关怀", "stopping owner care"),
    "consent": ("记录车主授权", "recording consent"), "sms_replies": ("短信网关回执", "the SMS gateway's replies"),
    "complete_task": ("完成关怀任务", "completing a task"), "move_reward": ("变更奖励状态", "moving a reward"),
    "invites": ("邀请用户", "inviting users"), "reset_passwords": ("重置密码", "resetting passwords"),
    "issue_tokens": ("签发 API 令牌", "issuing API tokens"), "tokens": ("管理 API 令牌", "API tokens"),
    "add_dealer": ("新增经销商", "adding a dealer"), "change_dealer": ("修改经销商", "changing a dealer"),
    "update_stock": ("更新库存", "updating stock"), "add_consultant": ("新增销售顾问", "adding a consultant"),
    "change_consultant": ("修改销售顾问", "changing a consultant"), "calendar": ("管理工作日历", "managing the calendar"),
    "submit_raw_leads": ("提交原始线索", "submitting raw leads"), "policies": ("查看或修改策略", "seeing or changing policies"),
    "approve_policy": ("审批策略版本", "approving a policy version"), "webhooks": ("管理 Webhook", "managing webhooks"),
    "push": ("配置推送渠道", "configuring push channels"), "sms_gateway": ("配置短信网关", "configuring the SMS gateway"),
    "dashboards": ("查看看板", "dashboards"), "owner_dashboard": ("查看车主关怀看板", "the owner-care dashboard"),
    "behaviour": ("提交客户行为事件", "posting behaviour events"), "queue": ("查看此队列", "this queue"),
}
LABELS["thing"] = {
    "lead": ("线索", "lead"), "dealer": ("经销商", "dealer"), "consultant": ("销售顾问", "consultant"),
    "user": ("用户", "user"), "token": ("API 令牌", "token"), "ownership": ("车主档案", "ownership"),
    "task": ("关怀任务", "task"), "reward": ("奖励", "reward"), "notification": ("消息", "notification"),
    "push_target": ("推送渠道", "push target"), "webhook": ("Webhook", "webhook"), "simulation": ("模拟", "simulation"),
    "policy": ("策略版本", "policy version"), "day": ("特殊日期", "special day"), "link": ("链接", "link"),
    "page": ("页面", "page"),
}
LABELS["status"] = {
    "draft": ("草稿", "a draft"), "active": ("生效中", "active"), "retired": ("已停用", "retired"),
    "rejected": ("已驳回", "rejected"), "approved": ("已批准", "approved"), "done": ("已完成", "done"),
    "cancelled": ("已取消", "cancelled"), "earned": ("已获得", "earned"), "issued": ("已发放", "issued"),
    "redeemed": ("已兑换", "redeemed"),
}
LABELS["step"] = {"approved": ("审批", "approved"), "rejected": ("驳回", "rejected")}
ERRORS: dict[str, tuple[str, str]] = {
    "simulation_failed": ("模拟运行失败，请稍后重试（详情见服务日志）", "the simulation failed; try again (the server's log says why)"),
    "simulation_interrupted": ("模拟运行所在的服务进程已停止，请重新运行", "the process running the simulation stopped; run it again"),
    # what a status means when nothing more precise is said (FastAPI's own 404 and 405, a proxy's answer)
    "http.400": ("请求内容无法解析（须为 UTF-8 编码的 JSON）", "the body could not be decoded (not UTF-8 JSON)"),
    "http.401": ("请先登录", "sign in first"), "http.403": ("您无权执行此操作", "you may not do this"),
    "http.404": ("未找到", "not found"), "http.405": ("不支持此请求方法", "method not allowed"),
    "http.409": ("当前状态不允许此操作", "the current state does not allow it"),
    "http.413": ("请求内容超过 {limit} 字节", "the request body is over {limit} bytes"),
    "http.415": ("不支持此内容类型", "unsupported content type"),
    "http.422": ("请求内容有误", "the request is not valid"),
    "http.other": ("请求未完成（HTTP {status}）", "the request was not done (HTTP {status})"),
    # who may do what
    "role_only": ("「{what}」仅限{roles}，您的角色是{role}", "{what} is for {roles}, not the {role}"),
    "not_found": ("未找到{thing} {id}", "{thing} {id} not found"),
    "csrf": ("安全校验未通过：用登录会话提交的修改须带 {header} 请求头（其值取自 {cookie}）",
             "CSRF check failed: a write made with the session cookie needs the {header} header (the {cookie} "
             "cookie's value)"),
    "too_many_sign_ins": ("登录失败次数过多，请 {seconds} 秒后再试", "too many failed sign-ins: try again in {seconds} s"),
    "missing_token": ("缺少访问令牌", "missing bearer token"),
    "bad_token": ("访问令牌无效或已停用", "unknown or inactive token"),
    "metrics_token": ("此接口需要指标令牌", "this endpoint needs the metrics token"),
    "wrong_password": ("用户名或密码错误", "wrong user or password"),
    "token_has_no_password": ("接口令牌没有密码", "an API token has no password"),
    "current_password_wrong": ("当前密码不正确", "the current password is wrong"),
    "manager_names_dealer": ("网销经理须指明所属经销商", "a dealer manager names their dealer"),
    "manager_consultants_only": ("网销经理只能管理销售顾问的账号，不能管理{role}",
                                 "a dealer manager manages consultants' accounts only, not a {role}'s"),
    "user_exists": ("用户 {user} 已存在：请改为重置其密码", "user {user} exists already: reset their password instead"),
    "user_or_email_taken": ("该用户名或邮箱已被占用", "that user id or email is taken"),
    "link_expired": ("此链接无效、已使用或已过期，请重新申请", "this link is unknown, used or expired: ask for a new one"),
    "system_token_head_only": ("系统令牌只能由线索运营负责人签发", "a system token is for the head of lead ops to issue"),
    "manager_tokens_own_roles": ("网销经理只能为本店角色签发令牌，不能为{role}",
                                 "a dealer manager issues tokens of their dealer's roles only, not a {role}'s"),
    "behaviour_oem_only": ("客户行为事件来自主机厂系统，经销商不能提交",
                           "behaviour events come from the OEM's systems, not from dealers"),
    "dealer_exists": ("经销商 {dealer} 已存在：请修改它", "dealer {dealer} exists already: PATCH it"),
    "user_id_taken": ("用户 {user} 已存在", "user {user} exists already"),
    "sms_gateway_oem_only": ("只有主机厂线索运营可以配置短信网关", "only OEM lead ops configure the SMS gateway"),
    "push_test_failed": ("测试消息发送失败（{error}）", "the test message could not be sent ({error})"),
    "web_push_off": ("未配置网页推送（服务器未设置推送密钥 {setting}）",
                     "Web Push is not configured ({setting})"),
    "policy_not_draft": ("策略版本 {version} 当前为「{status}」：只有草稿可以{step}",
                         "policy version {version} is {status}: only a draft can be {step}"),
    "policy_own_author": ("草稿不能由其作者本人审批", "a draft cannot be approved by its own author"),
    "policy_not_active": ("策略版本 {version} 当前为「{status}」：运行中的线索只能迁移到生效版本",
                          "policy version {version} is {status}: running leads move to the active version only"),
    "too_many_leads_to_migrate": ("查询选中了超过 {limit} 条运行中的线索，请缩小范围",
                                  "the query picks more than {limit} running leads: narrow it"),
    "no_open_lead": ("该客户没有 {brand} 的未结线索", "no open {brand} lead for this customer"),
    "database_busy": ("数据库繁忙，请重试（线索提交可安全重试，已完成的操作会被拒绝并返回 409）",
                      "the database is busy; retry: intake is idempotent, an action already done is refused (409)"),
    "engine_unavailable": ("工作流引擎未及时响应，请重试（线索提交可安全重试，已完成的操作会被拒绝并返回 409）",
                           "the workflow engine did not answer in time; retry: intake is idempotent, an action "
                           "already done is refused (409)"),
    "codec_body": ("请求体须为 JSON 格式的载荷列表：{error}",
                   "the body is not {{\"payloads\": [...]}} as protobuf JSON: {error}"),
    "codec_failed": ("数据无法解码：{error}", "the payloads could not be converted: {error}"),
    "external_id_reused": ("此外部编号已在渠道「{channel}」用于另一条内容不同的提交，新的提交须使用新的外部编号",
                           "external_id was already used on channel {channel} for a different submission; a new "
                           "submission needs a new external_id"),
    "owner_care_stopped": ("车主关怀已停止（{reason}）", "owner care stopped: {reason}"),
    "owner_care_stopped_vehicle": ("此车辆的车主关怀已停止", "owner care for this vehicle has stopped"),
    "event_id_reused": ("事件编号 {event} 已用于另一辆车", "event id {event} was used for another vehicle"),
    "task_closed": ("此任务{status}", "the task is {status} already"),
    "reward_step": ("奖励须从「{status_before}」状态变更，当前为「{status}」",
                    "a reward moves on from {status_before}; this one is {status}"),
    "too_many_generations": ("该客户在 {brand} 下已有超过 {limit} 条线索", "customer has more than {limit} leads of {brand}"),
    "referral_expired": ("推荐码已于 {day} 过期", "referral code expired on {day}"),
    "self_referral": ("不能使用自己的推荐码（同一手机号）", "self-referral: the code belongs to this customer (same phone)"),
}
_add(ERRORS, "error.")

INVALID: dict[str, tuple[str, str]] = {
    # pydantic's error types (`ctx` gives the parameters); an unlisted type reads as `invalid.other`
    "missing": ("必填", "field required"),
    "extra_forbidden": ("不接受此字段", "no such field"),
    "string_type": ("须为文本", "must be text"), "int_type": ("须为整数", "must be an integer"),
    "int_parsing": ("须为整数", "must be an integer"), "int_from_float": ("须为整数", "must be an integer"),
    "float_type": ("须为数字", "must be a number"), "float_parsing": ("须为数字", "must be a number"),
    "bool_type": ("须为是或否（布尔值）", "must be true or false"), "bool_parsing": ("须为是或否（布尔值）", "must be true or false"),
    "list_type": ("须为列表", "must be a list"), "dict_type": ("须为对象", "must be an object"),
    "model_type": ("须为对象", "must be an object"), "model_attributes_type": ("须为对象", "must be an object"),
    "none_required": ("须为空", "must be null"), "finite_number": ("须为有限数字", "must be a finite number"),
    "string_too_short": ("至少 {min_length} 个字符", "at least {min_length} characters"),
    "string_too_long": ("最多 {max_length} 个字符", "at most {max_length} characters"),
    "too_short": ("至少 {min_length} 项", "at least {min_length} items"),
    "too_long": ("最多 {max_length} 项", "at most {max_length} items"),
    "string_pattern_mismatch": ("格式不符（{pattern}）", "does not match {pattern}"),
    "greater_than": ("须大于 {gt}", "must be greater than {gt}"),
    "greater_than_equal": ("须不小于 {ge}", "must be at least {ge}"),
    "less_than": ("须小于 {lt}", "must be less than {lt}"),
    "less_than_equal": ("须不大于 {le}", "must be at most {le}"),
    "multiple_of": ("须为 {multiple_of} 的倍数", "must be a multiple of {multiple_of}"),
    "enum": ("须为以下之一：{expected}", "must be one of {expected}"),
    "literal_error": ("须为以下之一：{expected}", "must be one of {expected}"),
    "date_type": ("须为日期（年-月-日，如 2026-11-01）", "must be a date (YYYY-MM-DD)"),
    "date_parsing": ("须为日期（年-月-日，如 2026-11-01）", "must be a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": ("须为日期（年-月-日，如 2026-11-01）", "must be a date (YYYY-MM-DD)"),
    "date_from_datetime_inexact": ("须为日期（年-月-日，如 2026-11-01）", "must be a date (YYYY-MM-DD)"),
    "datetime_type": ("须为时间（ISO 8601）", "must be a date-time (ISO 8601)"),
    "datetime_parsing": ("须为时间（ISO 8601）", "must be a date-time (ISO 8601)"),
    "datetime_from_date_parsing": ("须为时间（ISO 8601）", "must be a date-time (ISO 8601)"),
    "timezone_aware": ("须带时区", "must carry a time zone"),
    "time_parsing": ("须为时刻（时:分，如 08:00）", "must be a time (HH:MM)"), "time_type": ("须为时刻（时:分，如 08:00）", "must be a time (HH:MM)"),
    "uuid_parsing": ("须为 UUID", "must be a UUID"), "uuid_type": ("须为 UUID", "must be a UUID"),
    "decimal_parsing": ("须为数字", "must be a number"), "decimal_type": ("须为数字", "must be a number"),
    "json_invalid": ("不是有效的 JSON", "not valid JSON"), "json_type": ("不是有效的 JSON", "not valid JSON"),
    "string_unicode": ("须为 Unicode 文本", "must be Unicode text"),
    "union_tag_invalid": ("类型不符：须为以下之一：{expected_tags}", "must be one of {expected_tags}"),
    "union_tag_not_found": ("缺少类型字段 {discriminator}", "missing the discriminator {discriminator}"),
    "url_parsing": ("不是有效的网址", "not a valid URL"), "url_scheme": ("网址协议须为 {expected_schemes}",
                                                                  "URL scheme should be {expected_schemes}"),
    "value_error": ("值无效", "not a valid value"), "other": ("值无效", "not a valid value"),
    "text_nul": ("不能包含 NUL 字符（\\u0000）", "must not contain the NUL character (\\u0000)"),
    "text_surrogate": ("不能包含孤立的 UTF-16 代理字符：须为有效的 Unicode 文本",
                       "must not contain a lone UTF-16 surrogate: text must be valid Unicode"),
    # our own rules (raised as CodedError, in a validator or a route)
    "iso_moment": ("须为 ISO 8601 日期或时间，例如 2026-11-01 或 2026-11-01T08:00:00+08:00",
                   "expected an ISO 8601 date or date-time, e.g. 2026-11-01 or 2026-11-01T08:00:00+08:00"),
    "moment_range": ("须在 1900-01-01 与 2999-12-31 之间", "must be between 1900-01-01 and 2999-12-31"),
    "http_url": ("须为完整的 HTTP 或 HTTPS 网址", "must be an absolute http or https URL"),
    "https_url": ("须为完整的 HTTPS 网址", "must be an absolute https URL"),
    "unknown_event_types": ("未知的事件类型 {unknown}；可选：{known}", "unknown event type {unknown}; known: {known}"),
    "config_needs": ("{kind} 渠道的配置缺少：{missing}", "config needs {missing} for {kind}"),
    "config_too_long": ("配置项最多 2000 个字符", "config values are at most 2000 characters"),
    "quiet_hours_pair": ("免打扰开始和结束时间须同时填写或同时留空", "quiet_start and quiet_end: give both or neither"),
    "mobile_digits": ("手机号只能包含数字，可带前导 +", "mobile must be digits, optionally with a leading +"),
    "changes_or_document": ("请提供修改项或完整策略文件，二者选一", "give either changes or a whole document"),
    "weights_sum": ("考核权重之和须为 1，当前为 {total}", "scorecard weights must sum to 1, not {total}"),
    "duration": ("不是有效的时长：{text}（例如 15m、2h、7d、1h30m）", "not a duration: {text} (use e.g. 15m, 2h, 7d, 1h30m)"),
    "duration_positive": ("时长须大于 0：{text}", "duration must be positive: {text}"),
    "owners_gateway": ("车主短信通道只能是短信网关，且不按角色区分", "an owners' gateway is an SMS gateway, for no role"),
    "mileage_needed": ("里程事件须提供里程读数", "a mileage event needs the reading"),
    "insurance_expiry_needed": ("续保事件须提供保险到期日", "a renewed policy needs its expiry date"),
    "phone": ("不是有效的手机号码", "not a phone number"),
    "phone_mobile": ("须为 11 位中国大陆手机号", "not an 11-digit Chinese mobile number"),
    "place_unknown": ("未知地点「{text}」：请填写中文名称、拼音或行政区划代码（GB/T 2260）",
                      "unknown place {text!r}: give a Chinese name, its pinyin, or the GB/T 2260 code"),
    "place_ambiguous": ("「{text}」对应多个地点：{names}；请填写中文名称或代码",
                        "{text!r} names more than one place: {names}; give the name in Chinese or the code"),
    "calendar_years": ("日历覆盖 {min}–{max} 年", "the calendar covers {min}-{max}"),
    "role_system": ("系统角色只供引擎自身使用", "system is the engine's role"),
    "needs_dealer": ("{role}须属于一家已存在的经销商", "a {role} needs an existing dealer"),
    "visibility_query": ("服务器不接受此查询条件：{error}", "not a visibility query the server accepts: {error}"),
    "start_before_end": ("开始时间须早于结束时间", "start must come before end"),
    "to_after_from": ("结束时间（{end}）须晚于开始时间（{start}）", "`to` ({end}) must be after `from` ({start})"),
    "unknown_value": ("未知的{field}：{value}；可选：{known}", "unknown {field} {value}; known: {known}"),
    "series_not_sold": ("经销商不销售这些车系：{series}", "series the dealer does not sell: {series}"),
    "not_null": ("不能为空", "may not be null"),
    "no_dealer": ("经销商 {dealer} 不存在", "no dealer {dealer}"),
    "roles_of_scope": ("这些角色不属于此渠道的范围：{roles}", "roles outside this target's scope: {roles}"),
    "unknown_referral_code": ("推荐码不存在", "unknown referral code"),
    "engine_refused": ("工作流引擎拒绝了此请求：{error}", "the workflow engine refused it: {error}"),
    "policy.not_object": ("策略须为由各配置表（计时、规则、评分、派发等）组成的对象",
                          "a policy is an object of tables (clocks, rules, scoring, dispatch, ...)"),
    "policy.engine_key": ("由引擎设置，不能在策略中修改", "set by the engine, not by a policy"),
    "policy.unknown_key": ("未知的配置项", "unknown key"),
    "policy.positive": ("时长须大于 0，当前为 {value}", "a duration must be positive, not {value}"),
    "policy.unknown_factor": ("未知的派发因素（可选：{known}）", "unknown dispatch factor (known: {known})"),
    "policy.weight_range": ("权重须在 0 到 1 之间，当前为 {value}", "a weight is between 0 and 1, not {value}"),
    "policy.weights_sum": ("权重之和须为 1，当前为 {total}", "weights must sum to 1, not {total}"),
    "policy.unknown_item": ("未知的评分项", "unknown scoring item"),
    "policy.negative_points": ("分值不能为负（{value}）", "points cannot be negative ({value})"),
    "policy.unknown_threshold": ("未知级别（H、A、B；低于 B 为 C）", "unknown grade (H, A, B; below B is C)"),
    "policy.threshold_range": ("阈值须为 0 到 100 的分数，当前为 {value}", "a threshold is a score from 0 to 100, not {value}"),
    "policy.thresholds_order": ("阈值须从 H 到 A 到 B 严格递减", "thresholds must fall strictly from H to A to B"),
    "policy.unknown_grade": ("未知级别 {grade}", "unknown grade {grade}"),
    "queue_names_nothing": ("队列「{queue}」既不对应计时也不对应阶段", "queue {queue} names neither a clock nor a stage"),
    "upload.not_utf8": ("文件不是 UTF-8 文本", "the file is not UTF-8 text"),
    "upload.empty": ("文件为空", "the file is empty"),
    "upload.not_json": ("文件不是有效的 JSON", "the file is not valid JSON"),
    "upload.not_a_list": ("须为日期列表", "expected a list of days"),
    "upload.csv_header": ("CSV 表头须包含这些列：{columns}", "the CSV header must name the columns {columns}"),
    "upload.no_days": ("文件中没有任何日期", "the file lists no days"),
    "upload.row_object": ("每一行须为包含 {fields} 的对象", "each row must be an object with {fields}"),
    "upload.not_a_date": ("不是日期（年-月-日，如 2027-01-01）：{text}", "not a date (YYYY-MM-DD): {text}"),
    "upload.outside_year": ("{day} 不在 {year} 年内", "{day} is outside {year}"),
    "upload.kind": ("类型须为 {holiday}（节假日）或 {workday}（调休上班），不能是 {text}",
                    "kind must be {holiday} or {workday}, not {text}"),
    "upload.twice": ("{day} 出现了两次且类型不同", "{day} is given twice with different kinds"),
}
_add(INVALID, "invalid.")

# the company sign-in's refusals (api/oidc.py), shown as a page
OIDC: dict[str, tuple[str, str]] = {
    "title": ("无法登录", "Cannot sign in"), "back": ("返回登录页", "Back to sign-in"),
    "off": ("未配置公司账号登录。", "Company sign-in is not configured."),
    "issuer": ("公司账号服务的发现文档声明的签发方是 {named}，而不是 {issuer}。",
               "The provider's discovery names issuer {named}, not {issuer}."),
    "expired": ("公司账号的登录凭证已过期，请重新登录。", "The ID token has expired: sign in again."),
    "audience": ("登录凭证不是签发给本系统的。", "The ID token was issued for another application."),
    "unknown_key": ("登录凭证的签名密钥未知（{error}）。", "The ID token is signed by an unknown key ({error})."),
    "invalid_token": ("登录凭证无效（{error}）。", "The ID token is not valid ({error})."),
    "nonce": ("登录凭证与本次登录不符。", "The ID token does not belong to this sign-in (nonce)."),
    "not_completed": ("公司账号登录未完成（{error}）。", "The company sign-in did not complete: {error}."),
    "used": ("这次登录已失效，请重新登录。", "This sign-in expired or was used already: start again."),
    "exchange": ("公司账号服务拒绝了本次登录（{error}）。", "The provider refused the code exchange ({error})."),
    "no_id_token": ("公司账号服务没有返回身份令牌（授权范围中是否包含 {scope}？）。",
                    "The provider sent no ID token (is `{scope}` in the scopes?)."),
    "no_claim": ("登录凭证缺少 {claim}。", "The ID token has no `{claim}` claim."),
    "email_unverified": ("公司账号的邮箱未验证。", "The company account's email is not verified."),
    "disabled": ("该账号已停用。", "This Leadflow account is disabled."),
    "no_user": ("公司账号已验证，但 Leadflow 中没有对应的用户。请联系您的经理或线索运营发送邀请。",
                "Your company account is verified, but no Leadflow user is linked to it: ask your manager or lead "
                "ops for an invite."),
    "no_role": ("无法自动开通：登录凭证没有有效的角色。", "Cannot provision you: the ID token names no valid role."),
    "no_dealer": ("无法自动开通：登录凭证没有有效的经销商。", "Cannot provision you: the ID token names no known dealer."),
    "user_exists": ("用户 {user} 已存在，且已关联另一个账号。", "A user {user} exists already and is linked to another account."),
}
_add(OIDC, "oidc.")


class CodedError(ValueError):
    """A refusal people read, as a catalog code and its parameters; `str()` is its English text (for logs).

    A ValueError, so a pydantic validator may raise it: the API renders its code in the reader's language."""

    def __init__(self, code: str, **params: Any):
        self.code, self.params = code, params
        super().__init__(render(code, params, "en"))


def web_module() -> str:
    """web/messages.js: the catalog for the pages, generated from this one (`python -m domain.messages`);
    tests/test_words.py fails when the checked-in file differs."""
    import json
    body = json.dumps({lang: catalog_for(lang) for lang in LANGS}, ensure_ascii=False, indent=0, sort_keys=True)
    return ("// Generated from domain/messages.py by `python -m domain.messages`: do not edit by hand.\n"
            "// The engine's message catalog, one per language: the pages render engine codes with it.\n"
            f"export const MESSAGES = {body};\n")


if __name__ == "__main__":  # pragma: no cover - regenerates web/messages.js
    from pathlib import Path
    Path(__file__).resolve().parent.parent.joinpath("web", "messages.js").write_text(web_module(), encoding="utf-8")
