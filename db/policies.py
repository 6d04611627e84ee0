"""Policy versions in the read model (issue 16): seed, draft, approve, reject, the active one, the audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from db.models import PolicyAudit, PolicyVersion
from domain.messages import CodedError
from domain.policy import Policy
from domain.policy_versions import apply_changes, check_draft, diff, document_of

SEED_REASON = "policy.seeded"  # a message code (domain/messages.py): the API answers it in the reader's language
OLD_SEED_REASON = "随产品发布的策略文件（policy.toml）"  # what version 1 said before codes: still rendered as the code


class PolicyConflict(CodedError):
    """The version's status forbids the step (409)."""


class PolicyForbidden(Exception):
    """The actor may not take the step (403)."""


class UnknownVersion(Exception):
    """No such version (404)."""


def _audit(session: Session, version: int, at: datetime, actor: str, action: str, reason: str | None = None,
           **data: Any) -> None:
    session.add(PolicyAudit(version=version, at=at, actor=actor, action=action, reason=reason, data=data))


def ensure_seeded(session: Session, shipped: Policy, now: datetime) -> None:
    """Version 1 is the shipped TOML, active from the first time anyone asks."""
    if session.exec(select(func.count()).select_from(PolicyVersion)).one():
        return
    session.add(PolicyVersion(version=1, status="active", document=document_of(shipped), diff=[], author="system",
                              reason=SEED_REASON, created_at=now, effective_from=now, approved_by="system"))
    _audit(session, 1, now, "system", "seeded", SEED_REASON)
    session.commit()


def active(session: Session) -> PolicyVersion | None:
    return session.exec(select(PolicyVersion).where(PolicyVersion.status == "active")).first()


def get(session: Session, version: int) -> PolicyVersion:
    row = session.get(PolicyVersion, version)
    if row is None:
        raise UnknownVersion(f"no policy version {version}")
    return row


def listing(session: Session) -> list[PolicyVersion]:
    return list(session.exec(select(PolicyVersion).order_by(col(PolicyVersion.version).desc())))


def policy_of(row: PolicyVersion, time_scale: float = 1.0) -> Policy:
    """The version as the engine runs it; its `version` says which read-model version it is."""
    doc = {**row.document, "version": str(row.version), "time_scale": time_scale}
    return Policy.model_validate(doc)


def draft(session: Session, actor: str, reason: str, now: datetime, *, document: dict | None = None,
          changes: dict | None = None) -> PolicyVersion:
    """A new draft: a whole document, or changes laid over the active version. PolicyProblem if it is wrong."""
    base = active(session)
    base_doc = base.document if base else {}
    doc = document if document is not None else apply_changes(base_doc, changes or {})
    checked = check_draft(doc)
    normalized = document_of(checked)
    number = (session.exec(select(func.max(PolicyVersion.version))).one() or 0) + 1
    normalized["version"] = str(number)
    row = PolicyVersion(version=number, status="draft", document=normalized,
                        diff=diff({k: v for k, v in base_doc.items() if k != "version"},
                                  {k: v for k, v in normalized.items() if k != "version"}),
                        base_version=base.version if base else None, author=actor, reason=reason, created_at=now)
    session.add(row)
    _audit(session, number, now, actor, "drafted", reason, changed=[d["path"] for d in row.diff])
    session.commit()
    session.refresh(row)
    return row


def approve(session: Session, version: int, actor: str, now: datetime, note: str | None = None) -> PolicyVersion:
    """The head of lead ops makes a draft active (not its author); the active version is superseded."""
    row = get(session, version)
    if row.status != "draft":
        raise PolicyConflict("error.policy_not_draft", version=version, status=row.status, step="approved")
    if row.author == actor:
        raise PolicyForbidden("a draft cannot be approved by its own author")
    current = active(session)
    if current is not None:
        current.status = "superseded"
        session.add(current)
    row.status, row.approved_by, row.effective_from = "active", actor, now
    session.add(row)
    _audit(session, version, now, actor, "approved", note,
           replaced=current.version if current else None)
    session.commit()
    session.refresh(row)
    return row


def reject(session: Session, version: int, actor: str, now: datetime, note: str) -> PolicyVersion:
    row = get(session, version)
    if row.status != "draft":
        raise PolicyConflict("error.policy_not_draft", version=version, status=row.status, step="rejected")
    row.status = "rejected"
    session.add(row)
    _audit(session, version, now, actor, "rejected", note)
    session.commit()
    session.refresh(row)
    return row


def record_migration(session: Session, version: int, actor: str, now: datetime, reason: str, query: str,
                     leads: list[str]) -> None:
    _audit(session, version, now, actor, "migrated", reason, query=query, leads=len(leads), lead_ids=leads[:1000])
    session.commit()


def audit(session: Session, version: int | None = None) -> list[PolicyAudit]:
    q = select(PolicyAudit).order_by(col(PolicyAudit.id))
    if version is not None:
        q = q.where(PolicyAudit.version == version)
    return list(session.exec(q))
