// Every visible string goes through t(): Chinese first, English available (the lang-toggle button).
// Codes from the API (stages, clocks, actions, roles, enum values, field names) are translated here;
// an unknown code shows as it is, so a new stage never breaks a page.

import { MESSAGES } from "./messages.js";

const ZH = {
  app: { title: "线索管理", brand: "Leadflow 线索平台" },
  ui: {
    search: "搜索", searchHint: "姓名、手机号（或后 4 位）、线索号、外部单号", lapsedFor: "已超时 {t}",
    minutes: "{n} 分钟", hours: "{n} 小时", days: "{n} 天", offlineBanner: "离线：显示的是上次加载的内容，恢复网络后自动更新",
    call: "打电话", sms: "发短信", copyWechat: "复制微信号", copied: "已复制", logCall: "刚才的通话要记一笔跟进吗？", logIt: "记录跟进", later: "稍后",
    signIn: "登录", signOut: "退出", login: "用户名或邮箱", password: "密码", badLogin: "用户名或密码错误",
    signInSso: "使用公司账号登录", sessionEnded: "登录已失效，请重新登录", setPassword: "设置您的密码（至少 10 个字符）",
    newPassword: "新密码", save: "保存",
    signInTitle: "登录经销商门户 / 主机厂控制台", badToken: "令牌无效或已停用", loading: "加载中…", empty: "暂无数据",
    retry: "重试", back: "返回", more: "加载更多", all: "全部", any: "不限", yes: "是", no: "否", none: "无",
    submit: "提交", cancel: "取消", close: "关闭", done: "已完成", refresh: "刷新", updated: "已更新",
    leadChanged: "此线索已被更新", reload: "重新加载", total: "共 {n} 条", required: "必填",
    openOnly: "仅未结束", breachedOnly: "仅超时", filters: "筛选", clear: "清除筛选",
    notFound: "找不到此线索，或您无权查看。", goneFromView: "此线索已不在您的视野内（可能已转派）。",
    appealHint: "此线索已被判定为伪战败，贵店可在申诉期内提交新证据申诉。",
    live: "实时", offline: "离线", reconnecting: "正在重新连接…",
    apiError: "请求失败", networkError: "网络错误，请检查连接",
    paused: "已暂停", overdue: "已超时 {t}", left: "剩余 {t}", computing: "计算中",
    d: "天", h: "小时", m: "分", s: "秒",
    customer: "客户", phone: "电话", city: "城市", series: "车系", model: "车型", budget: "预算", timeframe: "购车时间",
    stage: "阶段", grade: "级别", score: "评分", dealer: "经销商", consultant: "销售顾问", region: "区域", channel: "渠道",
    clocks: "计时", actions: "可执行操作", noActions: "当前阶段您没有可执行的操作", timeline: "时间线", holdings: "经销商持有记录",
    scoreExplained: "评分说明", temporal: "在 Temporal 中查看流程", createdAt: "创建时间", updatedAt: "更新时间",
    since: "起始", deadline: "截止", waiting: "等待", overdueCount: "已超时", oldest: "最早",
    request: "申请内容", claim: "认领", claimed: "已认领", open: "打开", actor: "操作人",
    onDuty: "在岗", offDuty: "休息", load: "负荷", breached: "超时线索", openLeads: "未结线索", capacity: "上限",
    teamBreaches: "团队超时线索", myScorecard: "本店考核", rank: "排名 {r} / {n}", unranked: "本期未收到线索，不参与排名",
    approvals: "待我审批", poolEmpty: "公海池暂无线索", pushOn: "开启推送通知", pushOff: "关闭推送通知", inboxEmpty: "暂无提醒", readAll: "全部标为已读", inParens: "（{text}）", notifiedOf: "已通知：{notice}",
    period: "期间", thisMonth: "本月", last3: "近 3 个月", last12: "近 12 个月",
    funnel: "转化漏斗", sla: "SLA 达成率（按周）", slaByClock: "各计时达成率", scorecards: "经销商考核排名",
    channels: "渠道成本", costPerLead: "单条线索成本", costPerDeal: "单个成交成本", dispatch: "派发匹配率（按区域）",
    reviews: "审核队列", openNow: "待处理", decided: "已处理", avgHours: "平均时长(小时)", maxHours: "最长(小时)",
    leads: "线索数", received: "接收线索", totalScore: "总分", compliance: "达成率", met: "达成", lapsed: "超时",
    rawLeads: "原始线索", cost: "成本", won: "成交", matchRate: "匹配率", conversionTop: "总转化", conversionPrev: "环比转化",
    drillHint: "点击柱形或行可按该维度下钻", lead: "线索", kind: "类型", message: "内容", at: "时间",
    endedBy: "结束原因", dispatchReason: "派发原因", holdingOpen: "持有中", notVisible: "（无权查看）",
    liveLead: "线索动态：{stage}", liveGone: "一条线索已离开您的视野", liveNote: "新提醒：{kind}", lapsedAlert: "已超时", notified: "已通知", actionDone: "{action}：完成，线索现为「{stage}」", showAll: "显示全部 {n} 家", pastIntake: "已受理",
  },
  nav: { leads: "我的线索", leadsOem: "线索", pool: "公海池", inbox: "提醒", team: "团队", queues: "审核队列", dashboards: "数据看板", calendar: "工作日历", policies: "线索策略", account: "我的账号", owners: "车主关怀", ownerCare: "车主关怀看板" },
  account: {
    current_password: "当前密码", new_password: "新密码", changePassword: "修改密码", passwordChanged: "密码已修改，其他会话已退出",
    invite: "邀请", reset: "重置密码", user_id: "用户名", name: "姓名", dealer_id: "经销商", token_name: "名称",
    linkOnce: "链接仅显示一次，{until} 前有效，只能使用一次：{link}", tokens: "API 令牌（供系统集成）", newToken: "新建令牌",
    tokenOnce: "令牌仅显示这一次：{token}", lastUsed: "最近使用", revoke: "吊销", revoked: "已吊销",
  },
  role: {
    lead_ops: "线索运营", head_of_lead_ops: "线索运营负责人", review_team: "战败复核", review_team_lead: "复核组长",
    regional_manager: "区域经理", call_center: "中央呼叫中心", dealer_manager: "网销经理", consultant: "销售顾问",
    dealer_ops_lead: "运营负责人", system: "系统",
  },
  stage: {
    new: "新建", cleansing: "清洗中", dispatched: "已分发", acknowledged: "已确认接收", assigned: "已分配",
    contacted: "已联系", engaged: "深度沟通", invited: "已邀约", visited: "已到店", test_driven: "已试驾",
    quoted: "已报价", ordered: "已下订", won: "已成交", delivered: "已交车", completed: "已完成",
    transfer_review: "调单审核中", defeat_pending_manager: "战败待经理审批", defeat_review: "战败复核中",
    appeal_review: "申诉复核中", cancel_pending: "退单待审批", public_pool: "公海池", nurturing: "培育中",
    dormant: "沉淀池", call_center: "呼叫中心处理", closed_invalid: "已关闭（无效）", closed_lost: "已关闭（流失）",
  },
  clock: {
    receipt: "接收确认", first_response: "首次响应", public_pool: "分配后首次跟进", first_deep_contact: "首次深度沟通",
    store_invitation: "邀约到店", regional_follow_through: "区域经理跟进", grade_cadence: "跟进频次", stall: "连续 7 天未跟进",
    cleansing: "线索清洗", transfer_review: "调单审核", defeat_review: "战败复核", appeal_window: "申诉期",
    appeal_review: "申诉复核", nurture_touch: "培育内容", nurture_end: "培育期满", reactivation: "沉淀激活",
    revisit: "购车 3 个月回访", revisit_overdue: "回访逾期",
  },
  action: {
    acknowledge: "确认接收", decline: "拒收", assign: "分配顾问", claim: "认领", log_follow_up: "记录跟进",
    request_transfer: "申请调单", review_transfer: "审核调单", invite: "邀约到店", record_visit: "记录到店",
    record_test_drive: "记录试驾", record_quote: "记录报价", record_order: "记录下订", request_cancel: "申请退单",
    review_cancel: "审批退单", record_win: "记录成交", record_delivery: "记录交车", log_revisit: "记录回访",
    apply_for_defeat: "申请战败", review_defeat_application: "审批战败申请", decide_defeat: "战败复核裁定",
    appeal: "申诉", decide_appeal: "申诉裁定", record_cleansing: "记录清洗结果", reassign: "改派",
    log_regional_contact: "记录区域联络",
  },
  field: {
    channel: "联系方式", duration_minutes: "通话时长（分钟）", note: "备注", needs_captured: "已获取客户需求",
    needs: "客户需求", "needs.use": "用途", "needs.budget": "预算（元）", "needs.timeframe": "购车时间", "needs.concerns": "顾虑",
    reason: "原因", text: "说明", approve: "批准", explanation: "审核说明", consultant_id: "销售顾问", visit_at: "预约到店时间",
    model: "车型", amount: "金额（元）", deposit: "定金（元）", payment: "付款方式", vin: "车架号 VIN", reason_code: "战败原因",
    verdict: "裁定", reassign_to_call_center: "转交呼叫中心", evidence: "新证据", outcome: "结果", corrections: "更正信息",
    "corrections.customer_name": "客户姓名", "corrections.city": "城市", "corrections.series": "车系",
    "corrections.model": "车型", "corrections.budget": "预算（元）", "corrections.timeframe": "购车时间",
    dealer_id: "经销商（留空：系统选择最佳）", to_call_center: "转交呼叫中心", requested_by: "申请人",
  },
  enum: {
    call: "电话", wechat: "微信", sms: "短信", visit: "到店", test_drive: "试驾", quote: "报价",
    region_mismatch: "区域不符", demand_mismatch: "需求不符", other: "其他",
    bought_other_brand: "已购其他品牌", bought_from_other_dealer: "已在其他经销商购买", no_short_term_plan: "短期无购车计划",
    price_not_agreed: "价格未谈拢", unreachable: "无法联系", invalid: "无效",
    true_defeat: "真实战败", pseudo_defeat: "伪战败", upheld: "维持原判", overturned: "撤销原判",
    verified: "已核实", nurture: "转入培育", cash: "全款", loan: "贷款",
  },
  channel: {
    website: "官网", app: "App", mini_program: "小程序", douyin: "抖音", autohome: "汽车之家", yiche: "易车",
    live_stream: "直播", hotline: "400 热线", auto_show: "车展", referral: "转介绍", walk_in: "自然到店", csv_import: "CSV 导入",
    owner_care: "车主关怀（置换）",
  },
  timeframe: {
    within_7_days: "7 天内", within_15_days: "15 天内", within_30_days: "30 天内", within_90_days: "90 天内",
    later: "更晚", unknown: "未知",
  },
  dimension: { customer: "客户属性", key_info: "关键信息", behaviour: "互动行为", key_action: "关键行为" },
  scoreItem: {
    city_served: "所在城市有服务", repeat_customer: "老客户", referral: "转介绍", consent_given: "已授权联系",
    contact_complete: "联系信息完整", series_named: "明确车系", model_named: "明确车型", budget_given: "提供预算",
    budget_fits_series: "预算匹配", timeframe: "购车时间", financing_interest: "有金融意向", trade_in: "有置换需求",
    preferred_dealer: "指定经销商", channel_quality: "渠道质量", site_visits: "官网访问", config_views: "配置页浏览",
    app_activity: "App/小程序活跃", live_stream: "直播互动", multi_channel: "多渠道触达", test_drive_booked: "预约试驾",
    quote_requested: "询价", store_visit: "到店", deposit_intent: "定金意向",
  },
  queue: {
    cleansing: "线索清洗", transfer_review: "调单审核", defeat_review: "战败复核", appeal_review: "申诉复核",
    regional_follow_through: "区域跟进", defeat_approval: "战败审批", cancel_approval: "退单审批", public_pool: "公海池",
  },
  measure: {
    conversion: "转化率", store_visit: "到店率", deal: "成交率", follow_up_timeliness: "跟进及时率",
    status_update_accuracy: "状态更新准确率", defeat_report_compliance: "战败报备合规", cooperation: "配合度",
  },
  touchpoint: {
    first_maintenance: "首次保养", maintenance: "年度保养", insurance_renewal: "保险续保", anniversary: "购车周年",
    birthday: "生日问候", trade_in_review: "置换评估",
  },
  reward: { maintenance_voucher: "保养券", charger: "充电桩" },
  owners: {
    tasks: "待办任务（含倒计时）", upcoming: "即将到来", ownerships: "车主", overdue: "已逾期", done: "完成", next: "下次",
    active: "关怀中", stopped: "已停止", open: "待办", lapsed: "逾期", cancelled: "已取消", delivered: "交车",
    insurance: "保险到期", mileage: "里程", history: "关怀记录", consent: "授权（个人信息保护法）", referrals: "转介绍",
    code: "推荐码", won: "已成交", pending: "跟进中", earned: "已获得", issued: "已发放", redeemed: "已兑换",
    messageSent: "已发送短信", noMessage: "未发送短信", purpose_service: "服务提醒", purpose_marketing: "营销",
    purpose_referral: "转介绍",
    dash_active: "关怀中车主", dash_due: "7 天内到期任务", dash_onTime: "按时完成", dash_late: "逾期完成", dash_lapsed: "逾期未办",
    dash_tradeIns: "置换线索", dash_tradeInsWon: "置换成交", dash_referrals: "转介绍线索", dash_referralsWon: "转介绍成交",
    dash_rewards: "奖励", dash_messages: "车主短信",
  },
  calendarAction: { upload: "上传节假日安排", set_day: "设置单日", delete_day: "恢复为普通日", confirm: "确认本年安排" },
  calendar: {
    year: "年份", state: "状态", confirmed: "已确认", provisional: "推算（未确认）", holiday: "节假日", workday: "调休上班",
    date: "日期", kind: "类型", name: "名称", source: "来源", package: "日历包", computed: "推算", lead_ops: "线索运营",
    confirm: "确认本年安排", upload: "上传国务院安排（JSON 或 CSV）", uploadAndConfirm: "上传并确认", setDay: "设置单日",
    remove: "恢复为普通日", audit: "变更记录", signalled: "已通知受影响的线索重新计算截止时间",
  },
  policy: {
    reason: "原因", newDraft: "起草新版本（在当前生效版本上的修改，JSON）", badJson: "修改内容不是有效的 JSON", drafted: "已起草版本 {v}，待线索运营负责人审批",
    migrate: "将运行中的线索迁移到当前生效版本（可见性查询）", migrated: "已将 {n} 条运行中的线索迁移到版本 {v}",
    simulate: "假设分析：该版本在过去一段时间的真实线索上会怎样", version: "版本", days: "天数", run: "运行模拟",
    reality: "实际", draftSide: "版本 {v}", summary: "{n} 条线索，其中 {d} 条在该版本下结果不同",
    reviews: "待审核", alerts: "提醒", lapses: "各时钟超时次数", penalties: "各经销商处罚", perDealer: "各经销商分得线索",
    grades: "等级分布", reach: "到达各阶段的线索", assumptions: "假设（非事实）", differing: "结果不同的线索及原因",
    approve: "批准", reject: "驳回", rejected: "已驳回", draft: "草稿", active: "生效中", superseded: "已被取代",
    whySep: "；",
  },
};

const EN = {
  app: { title: "Leads", brand: "Leadflow" },
  ui: {
    search: "Search", searchHint: "Name, phone (or its last 4 digits), lead id, external id", lapsedFor: "{t} late",
    minutes: "{n} min", hours: "{n} h", days: "{n} d", offlineBanner: "Offline: showing what was last loaded; it updates when the network is back",
    call: "Call", sms: "SMS", copyWechat: "Copy WeChat id", copied: "Copied", logCall: "Log a follow-up for that call?", logIt: "Log follow-up", later: "Later",
    signIn: "Sign in", signOut: "Sign out", login: "User id or email", password: "Password", badLogin: "Wrong user or password",
    signInSso: "Sign in with the company account", sessionEnded: "Your session ended: sign in again", setPassword: "Set your password (10 characters or more)",
    newPassword: "New password", save: "Save",
    signInTitle: "Dealer portal / OEM console", badToken: "Unknown or inactive token", loading: "Loading…", empty: "Nothing here",
    retry: "Retry", back: "Back", more: "Load more", all: "All", any: "Any", yes: "Yes", no: "No", none: "None",
    submit: "Submit", cancel: "Cancel", close: "Close", done: "Done", refresh: "Refresh", updated: "Updated",
    leadChanged: "This lead has changed", reload: "Reload", total: "{n} in all", required: "required",
    openOnly: "Open only", breachedOnly: "SLA breached", filters: "Filters", clear: "Clear filters",
    notFound: "No such lead, or you may not see it.", goneFromView: "This lead is no longer yours to see (moved elsewhere).",
    appealHint: "This lead was judged a pseudo-defeat: your dealer may appeal with new evidence within the appeal window.",
    live: "Live", offline: "Offline", reconnecting: "Reconnecting…",
    apiError: "Request failed", networkError: "Network error: check the connection",
    paused: "Paused", overdue: "Overdue {t}", left: "{t} left", computing: "computing",
    d: "d", h: "h", m: "m", s: "s",
    customer: "Customer", phone: "Phone", city: "City", series: "Series", model: "Model", budget: "Budget", timeframe: "Timeframe",
    stage: "Stage", grade: "Grade", score: "Score", dealer: "Dealer", consultant: "Consultant", region: "Region", channel: "Channel",
    clocks: "Clocks", actions: "Actions", noActions: "No action is yours to take at this stage", timeline: "Timeline", holdings: "Holdings",
    scoreExplained: "Score explained", temporal: "Open the workflow in Temporal", createdAt: "Created", updatedAt: "Updated",
    since: "Since", deadline: "Deadline", waiting: "Waiting", overdueCount: "Overdue", oldest: "Oldest",
    request: "Request", claim: "Claim", claimed: "Claimed", open: "Open", actor: "By",
    onDuty: "On duty", offDuty: "Off duty", load: "Load", breached: "Breached", openLeads: "Open leads", capacity: "Capacity",
    teamBreaches: "Team's breached leads", myScorecard: "Our scorecard", rank: "Rank {r} of {n}", unranked: "No leads received this period: not ranked",
    approvals: "Waiting for my approval", poolEmpty: "The public pool is empty", pushOn: "Turn on push notifications", pushOff: "Turn off push notifications", inboxEmpty: "No alerts", readAll: "Mark all read", inParens: " ({text})", notifiedOf: "Notified: {notice}",
    period: "Period", thisMonth: "This month", last3: "Last 3 months", last12: "Last 12 months",
    funnel: "Funnel", sla: "SLA compliance (weekly)", slaByClock: "Compliance per clock", scorecards: "Dealer scorecards",
    channels: "Channel cost", costPerLead: "Cost per lead", costPerDeal: "Cost per deal", dispatch: "Dispatch match rate (by region)",
    reviews: "Review queues", openNow: "Open", decided: "Decided", avgHours: "Avg hours", maxHours: "Max hours",
    leads: "Leads", received: "Received", totalScore: "Total", compliance: "Compliance", met: "Met", lapsed: "lapsed",
    rawLeads: "Raw leads", cost: "Cost", won: "Won", matchRate: "Match rate", conversionTop: "From top", conversionPrev: "From previous",
    drillHint: "Click a bar or a row to drill down", lead: "Lead", kind: "Kind", message: "Message", at: "At",
    endedBy: "Ended by", dispatchReason: "Why this dealer", holdingOpen: "holding", notVisible: "(not visible)",
    liveLead: "Lead update: {stage}", liveGone: "A lead left your view", liveNote: "New alert: {kind}", lapsedAlert: "lapsed", notified: "Notified", actionDone: "{action} done: the lead is now {stage}", showAll: "Show all {n}", pastIntake: "Past intake",
  },
  nav: { leads: "My leads", leadsOem: "Leads", pool: "Public pool", inbox: "Inbox", team: "Team", queues: "Queues", dashboards: "Dashboards", calendar: "Calendar", policies: "Policies", account: "My account", owners: "Owner care", ownerCare: "Owner-care dashboard" },
  account: {
    current_password: "Current password", new_password: "New password", changePassword: "Change password", passwordChanged: "Password changed; your other sessions ended",
    invite: "Invite", reset: "Reset password", user_id: "User id", name: "Name", dealer_id: "Dealer", token_name: "Name",
    linkOnce: "Shown once, valid until {until}, works once: {link}", tokens: "API tokens (for integrations)", newToken: "New token",
    tokenOnce: "The token, shown this once only: {token}", lastUsed: "last used", revoke: "Revoke", revoked: "revoked",
  },
  role: {
    lead_ops: "Lead ops", head_of_lead_ops: "Head of lead ops", review_team: "Defeat review", review_team_lead: "Review lead",
    regional_manager: "Regional manager", call_center: "Call center", dealer_manager: "Dealer manager", consultant: "Consultant",
    dealer_ops_lead: "Dealer ops lead", system: "System",
  },
  stage: {
    new: "New", cleansing: "Cleansing", dispatched: "Dispatched", acknowledged: "Acknowledged", assigned: "Assigned",
    contacted: "Contacted", engaged: "Engaged", invited: "Invited", visited: "Visited", test_driven: "Test driven",
    quoted: "Quoted", ordered: "Ordered", won: "Won", delivered: "Delivered", completed: "Completed",
    transfer_review: "Transfer review", defeat_pending_manager: "Defeat: manager approval", defeat_review: "Defeat review",
    appeal_review: "Appeal review", cancel_pending: "Cancellation pending", public_pool: "Public pool", nurturing: "Nurturing",
    dormant: "Dormant", call_center: "Call center", closed_invalid: "Closed (invalid)", closed_lost: "Closed (lost)",
  },
  clock: {
    receipt: "Receipt confirmation", first_response: "First response", public_pool: "First follow-up after assignment",
    first_deep_contact: "First deep contact", store_invitation: "Store invitation", regional_follow_through: "Regional follow-through",
    grade_cadence: "Grade cadence", stall: "Stall (7 days)", cleansing: "Cleansing", transfer_review: "Transfer review",
    defeat_review: "Defeat review", appeal_window: "Appeal window", appeal_review: "Appeal review", nurture_touch: "Nurture content",
    nurture_end: "End of nurturing", reactivation: "Reactivation", revisit: "3-month revisit", revisit_overdue: "Revisit overdue",
  },
  action: {
    acknowledge: "Acknowledge", decline: "Decline", assign: "Assign", claim: "Claim", log_follow_up: "Log follow-up",
    request_transfer: "Request transfer", review_transfer: "Review transfer", invite: "Invite", record_visit: "Record visit",
    record_test_drive: "Record test drive", record_quote: "Record quote", record_order: "Record order",
    request_cancel: "Request cancellation", review_cancel: "Review cancellation", record_win: "Record win",
    record_delivery: "Record delivery", log_revisit: "Log revisit", apply_for_defeat: "Apply for defeat",
    review_defeat_application: "Review defeat application", decide_defeat: "Decide defeat", appeal: "Appeal",
    decide_appeal: "Decide appeal", record_cleansing: "Record cleansing", reassign: "Reassign",
    log_regional_contact: "Log regional contact",
  },
  field: {
    channel: "Channel", duration_minutes: "Duration (minutes)", note: "Note", needs_captured: "Needs captured",
    needs: "Needs", "needs.use": "Use", "needs.budget": "Budget (CNY)", "needs.timeframe": "Timeframe", "needs.concerns": "Concerns",
    reason: "Reason", text: "Text", approve: "Approve", explanation: "Explanation", consultant_id: "Consultant", visit_at: "Visit at",
    model: "Model", amount: "Amount (CNY)", deposit: "Deposit (CNY)", payment: "Payment", vin: "VIN", reason_code: "Reason",
    verdict: "Verdict", reassign_to_call_center: "Reassign to the call center", evidence: "New evidence", outcome: "Outcome",
    corrections: "Corrections", "corrections.customer_name": "Customer name", "corrections.city": "City",
    "corrections.series": "Series", "corrections.model": "Model", "corrections.budget": "Budget (CNY)",
    "corrections.timeframe": "Timeframe", dealer_id: "Dealer (empty: the next best)", to_call_center: "To the call center",
    requested_by: "Requested by",
  },
  enum: {
    call: "Call", wechat: "WeChat", sms: "SMS", visit: "Visit", test_drive: "Test drive", quote: "Quote",
    region_mismatch: "Region mismatch", demand_mismatch: "Demand mismatch", other: "Other",
    bought_other_brand: "Bought another brand", bought_from_other_dealer: "Bought from another dealer",
    no_short_term_plan: "No short-term plan", price_not_agreed: "Price not agreed", unreachable: "Unreachable", invalid: "Invalid",
    true_defeat: "True defeat", pseudo_defeat: "Pseudo-defeat", upheld: "Upheld", overturned: "Overturned",
    verified: "Verified", nurture: "Nurture", cash: "Cash", loan: "Loan",
  },
  channel: {
    website: "Website", app: "App", mini_program: "Mini-program", douyin: "Douyin", autohome: "Autohome", yiche: "Yiche",
    live_stream: "Live stream", hotline: "400 hotline", auto_show: "Auto show", referral: "Referral", walk_in: "Walk-in", csv_import: "CSV import",
    owner_care: "Owner care (trade-in)",
  },
  timeframe: {
    within_7_days: "within 7 days", within_15_days: "within 15 days", within_30_days: "within 30 days",
    within_90_days: "within 90 days", later: "later", unknown: "unknown",
  },
  dimension: { customer: "Customer", key_info: "Key information", behaviour: "Behaviour", key_action: "Key actions" },
  scoreItem: {},
  queue: {
    cleansing: "Cleansing", transfer_review: "Transfer review", defeat_review: "Defeat review", appeal_review: "Appeal review",
    regional_follow_through: "Regional follow-through", defeat_approval: "Defeat approval", cancel_approval: "Cancellation approval",
    public_pool: "Public pool",
  },
  measure: {
    conversion: "Conversion", store_visit: "Store visits", deal: "Deals", follow_up_timeliness: "Follow-up timeliness",
    status_update_accuracy: "Status accuracy", defeat_report_compliance: "Defeat reports", cooperation: "Cooperation",
  },
  touchpoint: {
    first_maintenance: "First maintenance", maintenance: "Yearly maintenance", insurance_renewal: "Insurance renewal",
    anniversary: "Purchase anniversary", birthday: "Birthday greeting", trade_in_review: "Trade-in review",
  },
  reward: { maintenance_voucher: "Maintenance voucher", charger: "Charger" },
  owners: {
    tasks: "Tasks (with countdowns)", upcoming: "Upcoming", ownerships: "Owners", overdue: "Overdue", done: "Done", next: "next",
    active: "Active", stopped: "Stopped", open: "Open", lapsed: "Lapsed", cancelled: "Cancelled", delivered: "Delivered",
    insurance: "Insurance expires", mileage: "Mileage", history: "History", consent: "Consent (PIPL)", referrals: "Referrals",
    code: "Referral code", won: "Won", pending: "In progress", earned: "Earned", issued: "Issued", redeemed: "Redeemed",
    messageSent: "SMS sent", noMessage: "No SMS", purpose_service: "Service reminders", purpose_marketing: "Marketing",
    purpose_referral: "Referral",
    dash_active: "Active ownerships", dash_due: "Tasks due in 7 days", dash_onTime: "Done on time", dash_late: "Done late",
    dash_lapsed: "Lapsed", dash_tradeIns: "Trade-in leads", dash_tradeInsWon: "Trade-in leads won",
    dash_referrals: "Referred leads", dash_referralsWon: "Referrals won", dash_rewards: "Rewards", dash_messages: "Owner SMS",
  },
  calendarAction: { upload: "Uploaded the schedule", set_day: "Set a day", delete_day: "Made a day ordinary", confirm: "Confirmed the year" },
  calendar: {
    year: "Year", state: "State", confirmed: "Confirmed", provisional: "Provisional (computed)", holiday: "Holiday",
    workday: "Make-up workday", date: "Date", kind: "Kind", name: "Name", source: "Source", package: "Package",
    computed: "Computed", lead_ops: "Lead ops", confirm: "Confirm the year", upload: "Upload the State Council's schedule (JSON or CSV)",
    uploadAndConfirm: "Upload and confirm", setDay: "Set one day", remove: "Make ordinary", audit: "Changes",
    signalled: "The affected leads were told to count their deadlines again",
  },
  policy: {
    reason: "Reason", newDraft: "Draft a version (changes over the active one, JSON)", badJson: "The changes are not valid JSON",
    drafted: "Version {v} drafted: the head of lead ops approves it", migrate: "Move running leads to the active version (visibility query)",
    migrated: "{n} running leads moved to version {v}", simulate: "What if: this version on the recorded leads of the last days",
    version: "Version", days: "Days", run: "Simulate", reality: "Reality", draftSide: "Version {v}",
    summary: "{n} leads, {d} of them differ under this version", reviews: "Reviews due", alerts: "Alerts",
    lapses: "SLA lapses per clock", penalties: "Penalties per dealer", perDealer: "Leads per dealer", grades: "Grade mix",
    reach: "Leads reaching each stage", assumptions: "Assumptions (not facts)", differing: "Leads that differ, and why",
    approve: "Approve", reject: "Reject", rejected: "Rejected", draft: "Draft", active: "Active", superseded: "Superseded",
    whySep: "; ",
  },
};

// The engine's texts (timeline events, notices, regions, penalties) come from the one message catalog,
// domain/messages.py, generated into messages.js: never a hand-copied list here.
for (const [dict, catalogLang] of [[ZH, "zh-CN"], [EN, "en"]]) {
  for (const [codeName, text] of Object.entries(MESSAGES[catalogLang])) {
    const [section, ...rest] = codeName.split(".");
    if (!["event", "notice", "region", "penalty"].includes(section)) continue;
    (dict[section] ||= {})[rest.join(".")] = text;
  }
}

const DICTS = { zh: ZH, en: EN };
const KEY = "leadflow.lang";
let lang = localStorage.getItem(KEY) === "en" ? "en" : "zh";

export function getLang() { return lang; }

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

function humanize(code) {
  return String(code).replaceAll("_", " ");
}

function lookup(section, key) {
  return DICTS[lang][section]?.[key];
}

/** t("ui.left", {t: "5m"}) */
export function t(path, params = {}) {
  const [section, ...rest] = path.split(".");
  const key = rest.join(".");
  let text = lookup(section, key) ?? ZH[section]?.[key] ?? key;
  for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, value);
  return text;
}

/** A code from the API in words: code("stage", "dispatched") -> 已分发; unknown codes stay readable. */
export function code(section, value) {
  if (value === null || value === undefined || value === "") return "—";
  return lookup(section, value) ?? humanize(value);
}

/** Whether a code has words of its own (in either language). */
export function has(section, value) {
  return value in (ZH[section] || {}) || value in (EN[section] || {});
}

/** A timeline event's kind; "notified_<notice>" events name the notice sent. */
export function eventName(kind) {
  if (kind.startsWith("notified_")) return t("ui.notifiedOf", { notice: noticeName(kind.slice("notified_".length)) });
  return code("event", kind);
}

/** An inbox row's kind: a named notice, or a clock whose deadline passed. */
export function noticeName(kind) {
  if (has("notice", kind)) return code("notice", kind);
  if (has("clock", kind)) return `${code("clock", kind)} · ${t("ui.lapsedAlert")}`;
  return code("notice", kind);
}

export function locale() { return lang === "zh" ? "zh-CN" : "en-GB"; }

/** The catalog language the API renders in (sent as Accept-Language). */
export function catalogLang() { return lang === "zh" ? "zh-CN" : "en"; }

/** A message code with its parameters, from the one catalog (domain/messages.py). */
export function message(codeName, params = {}) {
  let text = MESSAGES[catalogLang()][codeName] ?? MESSAGES["zh-CN"][codeName] ?? codeName;
  for (const [name, value] of Object.entries(params || {})) text = text.replaceAll(`{${name}}`, value ?? "");
  return text;
}

const BEIJING = "Asia/Shanghai";

/** A moment in Beijing time: 2026年12月5日 19:55 (zh) / 5 Dec 2026, 19:55 (en). */
export function formatTime(iso) {
  if (!iso) return "—";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: BEIJING, year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  if (lang === "zh") return `${parts.year}年${Number(parts.month)}月${Number(parts.day)}日 ${parts.hour}:${parts.minute}`;
  return new Intl.DateTimeFormat("en-GB", { timeZone: BEIJING, dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function formatMoney(value) {
  if (value === null || value === undefined) return "—";
  return "¥" + Number(value).toLocaleString(locale(), { maximumFractionDigits: 0 });
}

export function formatPercent(value) {
  if (value === null || value === undefined) return "—";
  return (value * 100).toLocaleString(locale(), { maximumFractionDigits: 1 }) + "%";
}

/** 1 天 3 小时 / 42 分 10 秒: the two largest units of a duration in ms. */
export function formatDuration(ms) {
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = [[d, "d"], [h, "h"], [m, "m"], [s, "s"]];
  const first = parts.findIndex(([n]) => n > 0);
  const shown = first === -1 ? [[0, "s"]] : parts.slice(first, first + 2);
  const sep = lang === "zh" ? "" : " ";
  return shown.map(([n, unit]) => `${n}${sep}${t("ui." + unit)}`).join(" ");
}
