"""Channel secrets at rest: Fernet (AES-128-CBC + HMAC), keys from LEADFLOW_CHANNEL_KEYS (comma-separated
Fernet keys, the first encrypting, all decrypting: MultiFernet, so a key is rotated by putting a new one first
and running `python -m channels.secrets rotate`). Unset (a local run): data/channel.key, made once."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, MultiFernet

from core.settings import get_settings

DEV_KEY_FILE = Path(__file__).resolve().parent.parent / "data" / "channel.key"
_fernet: MultiFernet | None = None


def _dev_key(path: Path = DEV_KEY_FILE) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(Fernet.generate_key().decode() + "\n")
    return path.read_text().strip()


def fernet() -> MultiFernet:
    global _fernet
    if _fernet is None:
        configured = get_settings().channel_keys
        raw = configured.get_secret_value() if configured else _dev_key()
        _fernet = MultiFernet([Fernet(k.strip()) for k in raw.split(",") if k.strip()])
    return _fernet


def seal(value: dict[str, Any] | str) -> str:
    return fernet().encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()


def unseal(token: str) -> Any:
    return json.loads(fernet().decrypt(token.encode()))


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


def main() -> None:  # pragma: no cover - operator command
    from sqlmodel import Session, col, select

    from db.engine import make_engine
    from db.models import PushPreference, PushTarget

    if sys.argv[1:] != ["rotate"]:
        sys.exit("usage: python -m channels.secrets rotate")
    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        for target in session.exec(select(PushTarget)).all():
            target.secret = rotate(target.secret)
            session.add(target)
        for pref in session.exec(select(PushPreference).where(col(PushPreference.mobile).is_not(None))).all():
            if pref.mobile is not None:  # (the query asked for those)
                pref.mobile = rotate(pref.mobile)
                session.add(pref)
        session.commit()
    print("channel secrets re-encrypted with the first key")


if __name__ == "__main__":
    main()
