"""Settings for every Leadflow process, read from the environment (one place)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True)

    temporal_address: str = Field(default="127.0.0.1:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_api_key: str | None = Field(default=None, alias="TEMPORAL_API_KEY")
    temporal_tls_cert: str | None = Field(default=None, alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: str | None = Field(default=None, alias="TEMPORAL_TLS_KEY")
    task_queue: str = Field(default="leads", alias="LEADFLOW_TASK_QUEUE")
    database_url: str = Field(default="sqlite:///data/leadflow.db", alias="DATABASE_URL")
    time_scale: float = Field(default=1.0, gt=0, alias="LEADFLOW_TIME_SCALE")
    policy_path: str | None = Field(default=None, alias="LEADFLOW_POLICY")
    log_level: str = Field(default="INFO", alias="LEADFLOW_LOG_LEVEL")
    temporal_ui_url: str = Field(default="http://127.0.0.1:8233",
                                 alias="LEADFLOW_TEMPORAL_UI_URL")  # the portal links leads there
    # the worker's Temporal SDK metrics for Prometheus at http://<address>/metrics; "off" (the default, so
    # several local workers never fight over a port): none. compose and ./scripts/run.sh set one.
    worker_metrics_address: str = Field(default="off", alias="LEADFLOW_WORKER_METRICS_ADDRESS")
    # new lead runs use local activities (patch local-activities); "false" while older workers still run
    local_activities: bool = Field(default=True, alias="LEADFLOW_LOCAL_ACTIVITIES")
    # the worker's threads for activities, local and remote (one pool), and as many workflow tasks in hand at once:
    # a task is only taken when a thread is there for its local activities, so a backlog (a restart) waits on the
    # server instead of timing out in the worker (bench/restart.py; worker.py build_worker)
    worker_threads: int = Field(default=16, ge=1, alias="LEADFLOW_WORKER_THREADS")
    # run the workflows inside the SDK's sandbox, which re-imports a workflow's module for every new run and fails a
    # task that calls something non-deterministic (the clock, random, the network): ~14 % of the worker's CPU at
    # intake (issue 15, py-spy). The test suite runs every workflow in it, so such a call fails there; production
    # runs them outside it by default. "true" turns it on here too (a deploy of untested workflow code, say).
    workflow_sandbox: bool = Field(default=False, alias="LEADFLOW_WORKFLOW_SANDBOX")
    # a task on a worker's sticky queue that no poller starts within this time goes back to the shared queue
    # (worker.py STICKY_TIMEOUT says why 60: a full restart's catch-up without task timeouts, bench/restart.py)
    sticky_timeout_seconds: float = Field(default=60.0, gt=0, alias="LEADFLOW_STICKY_TIMEOUT_SECONDS")
    metrics_token: SecretStr | None = Field(default=None,
                                            alias="LEADFLOW_METRICS_TOKEN")  # set: the API's /metrics needs it
    # `id:base64key,...`: payloads to Temporal encrypted, the first key encrypting (core/temporal_client.py); unset: in
    # clear
    codec_keys: SecretStr | None = Field(default=None, alias="LEADFLOW_CODEC_KEYS")
    # `id:base64key,...`: the keys of lead ids (an HMAC of the phone), the first making new ids, every one still
    # resolving the leads it made (workflows/lead_ids.py); unset: data/lead-id.key, made once for a local run
    lead_id_keys: SecretStr | None = Field(default=None, alias="LEADFLOW_LEAD_ID_KEYS")
    # sign-in (api/auth.py, api/routes/auth.py; docs/operations.md "Sign-in and SSO")
    session_hours: float = Field(default=12, gt=0, alias="LEADFLOW_SESSION_HOURS")  # a browser session's lifetime
    invite_hours: float = Field(default=72, gt=0, alias="LEADFLOW_INVITE_HOURS")  # an invite link's
    reset_hours: float = Field(default=2, gt=0, alias="LEADFLOW_RESET_HOURS")  # a reset link's
    login_account_limit: int = Field(default=5, ge=1, alias="LEADFLOW_LOGIN_ACCOUNT_LIMIT")  # failures per account
    login_address_limit: int = Field(default=20, ge=1, alias="LEADFLOW_LOGIN_ADDRESS_LIMIT")  # failures per address
    login_lock_minutes: float = Field(default=15, gt=0, alias="LEADFLOW_LOGIN_LOCK_MINUTES")  # window and lock
    public_url: str | None = Field(default=None,
                                   alias="LEADFLOW_PUBLIC_URL")  # links and the OIDC redirect; else the request's
    oidc_issuer: str | None = Field(default=None, alias="LEADFLOW_OIDC_ISSUER")  # set: "company account" sign-in
    oidc_client_id: str | None = Field(default=None, alias="LEADFLOW_OIDC_CLIENT_ID")
    oidc_client_secret: SecretStr | None = Field(default=None, alias="LEADFLOW_OIDC_CLIENT_SECRET")
    oidc_scopes: str = Field(default="openid email profile", alias="LEADFLOW_OIDC_SCOPES")
    oidc_user_claim: str = Field(default="sub", pattern="^(sub|email)$", alias="LEADFLOW_OIDC_USER_CLAIM")
    oidc_role_claim: str | None = Field(default=None, alias="LEADFLOW_OIDC_ROLE_CLAIM")  # optional
    oidc_dealer_claim: str | None = Field(default=None, alias="LEADFLOW_OIDC_DEALER_CLAIM")  # optional
    oidc_auto_provision: bool = Field(default=False, alias="LEADFLOW_OIDC_AUTO_PROVISION")
    # push channels (channels/): Fernet keys of the channel secrets, first encrypting; unset:
    # data/channel.key, made once for a local run. The VAPID key pair's private half (base64url, 32 bytes) and
    # its contact; unset: Web Push is off.
    channel_keys: SecretStr | None = Field(default=None, alias="LEADFLOW_CHANNEL_KEYS")
    vapid_private_key: SecretStr | None = Field(default=None, alias="LEADFLOW_VAPID_PRIVATE_KEY")
    vapid_subject: str = Field(default="mailto:ops@leadflow.invalid", alias="LEADFLOW_VAPID_SUBJECT")


@lru_cache
def get_settings() -> Settings:
    return Settings()
