"""Configuration: `config.toml`, validated by pydantic, with environment overrides.

The file is the single source of settings. A handful of environment variables (names kept
from the original service) override it, so secrets need not live in the file. Relative paths
resolve against the folder of the config file. Any unknown key or bad value stops the
process with a message naming the key.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    IPvAnyNetwork,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cip.colours import HEX_COLOUR, accent_problem
from cip.slugs import checked_slug

DEFAULT_CONFIG_PATH = "config.toml"
WEAK_SECRET_PREFIXES = ("change-me", "changeme", "secret")
MIN_SECRET_BYTES = 32
# Estimated by `secret_bits`: 32 random bytes (43 base64 characters, 64 hex digits) come out at
# 175-255, shorter or patterned secrets below 160.
MIN_SECRET_BITS = 160
MAKE_A_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
# An origin a tenant's pages may be embedded from (CSP frame-ancestors): scheme, host (a
# leading `*.` allowed), optional port; nothing that could end the header directive.
ORIGIN_PATTERN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?$")
Locale = Literal["ru", "en"]  # the languages of the pages and mails
# A tenant's name and welcome message, from the config file or `cip tenant create`.
TenantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
WelcomeMessage = Annotated[str, StringConstraints(max_length=2000)]
MAX_RETENTION_DAYS = 36_500  # a hundred years: a longer one is surely a typo
MAX_QUOTA = 2**31 - 1  # what the month's counters hold
# A tenant's logo and bot avatar: the image types served (by extension), and their size bound.
BRAND_FILE_TYPES = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
BRAND_FILE_MAX_BYTES = 512 * 1024
MAX_QUICK_REPLIES = 6
Theme = Literal["light", "dark", "auto"]  # auto: the visitor's prefers-color-scheme
BotName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
QuickReply = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\n\r]*$"),
]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    base_url: str = "http://127.0.0.1:8000"
    mode: Literal["development", "production"] = "development"
    state_dir: Path = Path("var")
    shutdown_timeout: float = Field(10.0, gt=0)
    # Processes serving the port (`cip serve --workers` overrides it); see cip.supervisor.
    workers: int = Field(1, ge=1)
    backlog: int = Field(1024, ge=1, le=65535)
    # A request body not all there with its headers must arrive within body_timeout, and one
    # client address may have only slow_bodies_per_client of them arriving at once.
    body_timeout: float = Field(10.0, gt=0)
    slow_bodies_per_client: int = Field(16, ge=1)
    tenant_cache_seconds: float = Field(10.0, ge=0)
    # Longest a chat waits in line to be let in (its rate limits and opening write, at most
    # [database] pool_max_size at once) before a 503 `busy` with Retry-After.
    chat_admission_wait: float = Field(5.0, gt=0, le=60)
    # Reverse proxies whose `X-Forwarded-For` names the client (see cip.http.forwarded):
    # addresses or networks; TRUSTED_PROXIES gives them separated by commas.
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    # Where `/` leads in production (an absolute https URL); empty: a small neutral page.
    root_redirect: str = ""

    @field_validator("root_redirect")
    @classmethod
    def _absolute_https(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (
            parts.scheme != "https" or not parts.hostname or not value.isprintable() or " " in value
        ):
            raise ValueError("must be an absolute https:// URL (or empty)")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class DatabaseConfig(Section):
    url: str = ""
    pool_min_size: int = Field(1, ge=0, le=100)
    pool_max_size: int = Field(20, ge=1, le=500)
    connect_timeout: float = Field(2.0, gt=0)
    acquire_timeout: float = Field(10.0, gt=0)
    command_timeout: float = Field(10.0, gt=0)
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _normalise_scheme(cls, value: str) -> str:
        value = value.strip()
        for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql://" + value[len(prefix) :]
        if value and not value.startswith("postgresql://"):
            raise ValueError("must be a postgresql:// URL (or empty for the embedded server)")
        return value


class LlmConfig(Section):
    api_url: str = "https://api.deepseek.com/v1"
    api_key: str = ""
    model: str = "deepseek-chat"
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    connect_timeout: float = Field(5.0, gt=0)
    first_token_timeout: float = Field(60.0, gt=0)
    idle_timeout: float = Field(60.0, gt=0)
    total_timeout: float = Field(600.0, gt=0)
    history_budget_chars: int = Field(24_000, ge=0)
    heartbeat_interval: float = Field(15.0, gt=0, le=15)
    # An answer longer than this is cut there (finish_reason "max_answer_chars").
    max_answer_chars: int = Field(32_000, ge=1)
    # Longest wait for a visitor's connection to take one write: a client that stops reading
    # is dropped and its answer stored `interrupted`.
    write_timeout: float = Field(30.0, gt=0)
    # The sweep of replies left `streaming` by a dead process: how often it runs, and how far
    # past total_timeout a row must be (a finishing stream's closing write may lag a little).
    sweep_interval: float = Field(60.0, gt=0)
    sweep_grace: float = Field(60.0, ge=0)

    @field_validator("api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class StreamsConfig(Section):
    # An answer keeps being written this long after the last visitor following it left (a
    # reload or a reconnect picks it up meanwhile); then its upstream is closed and it is
    # stored `interrupted`. Stop is the way to end one early.
    grace: float = Field(30.0, ge=0)
    # How often an instance appends the text its answers in flight gained to the database,
    # from where any instance replays it (`cip.chat.parts`); 0 keeps it in memory only, and
    # an answer then resumes on the instance writing it alone.
    flush_interval: float = Field(0.25, ge=0)


class PromptsConfig(Section):
    default_file: Path = Path("prompts/system_prompt.txt")
    directory: Path = Path("prompts")


class AuthConfig(Section):
    jwt_secret: str = ""
    jwt_expire_minutes: int = Field(10080, ge=1)
    bcrypt_cost: int = Field(12, ge=4, le=16)
    confirm_token_hours: float = Field(24.0, gt=0)
    reset_token_hours: float = Field(1.0, gt=0)
    # Failed logins in a window: for one email from one client IP, for one email from every
    # IP together (counting only attempts the first limit let through), and from one IP.
    login_failures_per_email_and_ip: int = Field(10, ge=1)
    login_failures_per_email: int = Field(100, ge=1)
    login_failures_per_ip: int = Field(50, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)


class SmtpConfig(Section):
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    user: str = ""
    password: str = ""
    sender: str = "CIP <no-reply@localhost>"
    # "auto": STARTTLS whenever the server offers it; true: required; false: never (then no
    # user/password, which would travel in clear).
    starttls: Literal["auto"] | bool = "auto"
    use_tls: bool = False  # TLS from the first byte (port 465)
    ca_file: Path | None = None  # CA certificates for the server's, beside the system's
    timeout: float = Field(10.0, gt=0)
    retries: int = Field(5, ge=0)
    retry_delay: float = Field(2.0, ge=0)
    drain_timeout: float = Field(5.0, ge=0)

    @model_validator(mode="after")
    def _tls_for_the_password(self) -> SmtpConfig:
        if self.use_tls and self.starttls is True:
            raise ValueError("starttls = true and use_tls = true exclude each other")
        if self.user and self.starttls is False and not self.use_tls:
            raise ValueError(
                "starttls = false would send the password in clear: the password is only ever "
                'sent over TLS (starttls = "auto" or true, or use_tls = true)'
            )
        return self


class LimitsConfig(Section):
    message_max_chars: int = Field(4000, ge=1)
    body_max_bytes: int = Field(64 * 1024, ge=1024)
    chat_per_user_per_minute: int = Field(20, ge=1)
    chat_per_ip_per_minute: int = Field(120, ge=1)
    register_per_ip_per_hour: int = Field(20, ge=1)
    # Account mails to one address: asked for from one client IP, and from every IP together
    # (counting only the mails the first limit let through).
    email_per_address_and_ip_per_hour: int = Field(5, ge=1)
    email_per_address_per_hour: int = Field(20, ge=1)
    cabinet_reads_per_user_per_minute: int = Field(120, ge=1)
    cabinet_reads_per_ip_per_minute: int = Field(600, ge=1)
    cabinet_writes_per_user_per_minute: int = Field(30, ge=1)
    cabinet_writes_per_ip_per_minute: int = Field(120, ge=1)
    saved_items_per_visitor: int = Field(1000, ge=1)
    # A dialog its visitor deleted can be restored this long; housekeeping purges it after.
    dialog_undo_seconds: int = Field(30, ge=1, le=3600)


class BrandConfig(Section):
    """A tenant's look on its pages (`[tenants.<slug>.brand]`); see `cip.http.brand`."""

    accent: str | None = None  # #rrggbb: buttons, links, the widget's launcher
    logo: Path | None = None  # image files (BRAND_FILE_TYPES), relative to the config file
    avatar: Path | None = None
    bot_name: BotName | None = None
    quick_replies: list[QuickReply] = Field(default_factory=list, max_length=MAX_QUICK_REPLIES)
    theme: Theme = "light"

    @field_validator("accent")
    @classmethod
    def _readable_accent(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not HEX_COLOUR.match(value):
            raise ValueError(f"{value!r} is not a colour like #2456c7")
        problem = accent_problem(value.lower())
        if problem:
            raise ValueError(problem)
        return value.lower()

    @field_validator("logo", "avatar")
    @classmethod
    def _image_type(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in BRAND_FILE_TYPES:
            kinds = ", ".join(sorted(BRAND_FILE_TYPES))
            raise ValueError(f"{str(value)!r} is not an image of a served type ({kinds})")
        return value


class TenantConfig(Section):
    """Per-tenant overrides; synchronised into the tenant table at start (see `cip.tenancy`
    for how they are read back)."""

    name: TenantName | None = None
    prompt_file: Path | None = None
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    welcome_message: WelcomeMessage | None = None
    allowed_origins: list[str] = Field(default_factory=list)
    locale: Locale | None = None
    limits: LimitsConfig | None = None
    # Dialogs idle for longer are deleted by housekeeping; 0 keeps them for ever.
    retention_days: int | None = Field(None, ge=0, le=MAX_RETENTION_DAYS)
    # Per calendar month (UTC); 0: no quota. Past one a chat is refused (429 quota_exceeded).
    monthly_answer_quota: int | None = Field(None, ge=0, le=MAX_QUOTA)
    monthly_token_quota: int | None = Field(None, ge=0, le=MAX_QUOTA)
    # One mail to `notify` a month when a quota is this far used; 0: no warning.
    quota_warning_percent: int | None = Field(None, ge=0, le=100)
    notify: list[EmailStr] = Field(default_factory=list, max_length=20)
    brand: BrandConfig | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        origins = [origin.rstrip("/") for origin in value]
        for origin in origins:
            if not ORIGIN_PATTERN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://example.com")
        return origins


class KnowledgeConfig(Section):
    """The knowledge base (`cip kb …`): what a tenant may store, and what a question is
    given of it."""

    max_document_bytes: int = Field(5 * 1024 * 1024, ge=1)
    max_documents_per_tenant: int = Field(200, ge=1)
    chunk_chars: int = Field(1200, ge=100, le=20_000)  # a chunk's text at most
    context_chars: int = Field(6000, ge=0)  # the chunks' text a question is given at most
    top_k: int = Field(5, ge=1, le=50)  # chunks a question is given at most


class MetricsConfig(Section):
    # Who may read /metrics: addresses or networks, matched against the TCP peer only (never
    # X-Forwarded-For); everyone else gets a 404. An empty list turns /metrics off.
    allow: tuple[IPvAnyNetwork, ...] = (
        IPv4Network("127.0.0.1/32"),
        IPv6Network("::1/128"),
    )
    # The per-tenant series (answers, tokens, quota refusals) carry the tenant's slug as a
    # `tenant` label; off, they add up over every tenant.
    tenant_label: bool = False


class LoggingConfig(Section):
    # "text": one readable line per record; "json": one JSON object per line (`cip.logs`).
    format: Literal["text", "json"] = "text"


class Config(Section):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    llm: LlmConfig = LlmConfig()
    streams: StreamsConfig = StreamsConfig()
    prompts: PromptsConfig = PromptsConfig()
    auth: AuthConfig = AuthConfig()
    smtp: SmtpConfig = SmtpConfig()
    limits: LimitsConfig = LimitsConfig()
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    root: Path = Path(".")  # the config file's folder; set by the loader

    @field_validator("tenants")
    @classmethod
    def _valid_slugs(cls, value: dict[str, TenantConfig]) -> dict[str, TenantConfig]:
        for slug in value:
            checked_slug(slug)
        return value

    @property
    def is_production(self) -> bool:
        return self.server.mode == "production"

    def tenant_settings(self, slug: str) -> dict[str, Any]:
        """What `[tenants.<slug>]` stores in the tenant's settings: the keys the file sets."""
        return self.tenants[slug].model_dump(mode="json", exclude_unset=True, exclude={"name"})


# Environment variable -> (section, key). Names kept from the original service, but for
# SMTP_STARTTLS and SMTP_TLS (a real relay in production wants one of them).
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "DEEPSEEK_API_URL": ("llm", "api_url"),
    "DEEPSEEK_API_KEY": ("llm", "api_key"),
    "PROMPT_FILE": ("prompts", "default_file"),
    "APP_HOST": ("server", "host"),
    "APP_PORT": ("server", "port"),
    "JWT_SECRET": ("auth", "jwt_secret"),
    "JWT_EXPIRE_MINUTES": ("auth", "jwt_expire_minutes"),
    "FRONTEND_BASE_URL": ("server", "base_url"),
    "SMTP_HOST": ("smtp", "host"),
    "SMTP_PORT": ("smtp", "port"),
    "SMTP_USER": ("smtp", "user"),
    "SMTP_PASSWORD": ("smtp", "password"),
    "SMTP_FROM": ("smtp", "sender"),
    "SMTP_STARTTLS": ("smtp", "starttls"),
    "SMTP_TLS": ("smtp", "use_tls"),
    "CIP_MODE": ("server", "mode"),
    "TRUSTED_PROXIES": ("server", "trusted_proxies"),
}


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, validate and finish the configuration."""
    environ = os.environ if environ is None else environ
    config_path = Path(path or environ.get("CIP_CONFIG") or DEFAULT_CONFIG_PATH).resolve()
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {config_path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid TOML: {exc}") from None
    return build_config(raw, root=config_path.parent, environ=environ)


def build_config(
    raw: dict[str, Any], *, root: Path, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate a raw mapping (as read from TOML) into a finished `Config`."""
    data = {
        section: dict(values) if isinstance(values, dict) else values
        for section, values in raw.items()
    }
    for variable, (section, key) in ENV_OVERRIDES.items():
        value = (environ or {}).get(variable)
        if value is not None and value != "":
            target = data.setdefault(section, {})
            if isinstance(target, dict):
                target[key] = value
    if "root" in data:
        raise ConfigError("root: unknown key")
    try:
        config = Config.model_validate({**data, "root": root})
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    return _finish(config)


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        lines.append(f"{key}: {message}")
    return "invalid configuration: " + "; ".join(lines)


def _finish(config: Config) -> Config:
    """Resolve relative paths against the config folder and apply the production rules."""
    root = config.root

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else (root / path).resolve()

    tenants = {
        slug: _resolved_tenant(slug, tenant, resolve) for slug, tenant in config.tenants.items()
    }
    server = config.server.model_copy(update={"state_dir": resolve(config.server.state_dir)})
    smtp = config.smtp.model_copy(
        update={"ca_file": resolve(config.smtp.ca_file) if config.smtp.ca_file else None}
    )
    prompts = config.prompts.model_copy(
        update={
            "default_file": resolve(config.prompts.default_file),
            "directory": resolve(config.prompts.directory),
        }
    )
    auth = config.auth.model_copy(
        update={"jwt_secret": _checked_secret(config.auth.jwt_secret, config, server.state_dir)}
    )
    if config.is_production and not config.smtp.host:
        raise ConfigError(
            "smtp.host: required in production (without it mails, their links included, "
            "would be written to the log); set it or SMTP_HOST"
        )
    return config.model_copy(
        update={
            "server": server,
            "prompts": prompts,
            "auth": auth,
            "smtp": smtp,
            "tenants": tenants,
        }
    )


def _resolved_tenant(
    slug: str, tenant: TenantConfig, resolve: Callable[[Path], Path]
) -> TenantConfig:
    """A tenant's paths made absolute; its brand files must be there, and not too large."""
    update: dict[str, Any] = {}
    if tenant.prompt_file:
        update["prompt_file"] = resolve(tenant.prompt_file)
    if tenant.brand is not None:
        files = {"logo": tenant.brand.logo, "avatar": tenant.brand.avatar}
        found = {name: resolve(path) for name, path in files.items() if path is not None}
        for name, path in found.items():
            key = f"tenants.{slug}.brand.{name}"
            if not path.is_file():
                raise ConfigError(f"{key}: file not found: {path}")
            if path.stat().st_size > BRAND_FILE_MAX_BYTES:
                raise ConfigError(f"{key}: {path} is larger than {BRAND_FILE_MAX_BYTES} bytes")
        update["brand"] = tenant.brand.model_copy(update=found)
    return tenant.model_copy(update=update) if update else tenant


def is_weak_secret(secret: str) -> bool:
    lowered = secret.strip().lower()
    return (
        len(secret.encode()) < MIN_SECRET_BYTES
        or lowered.startswith(WEAK_SECRET_PREFIXES)
        or secret_bits(secret) < MIN_SECRET_BITS
    )


def secret_bits(secret: str) -> float:
    """An estimate of a secret's entropy in bits: the entropy of its characters' frequencies,
    times the number of pieces it parses into, where a repeat of earlier text or a run of
    neighbouring characters (`abcd`, `4321`) of three or more is one piece. Random text
    scores near its true entropy; words repeated, runs and small alphabets score low."""
    counts = Counter(secret).values()
    per_piece = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts)
    return per_piece * _pieces(secret)


def _pieces(text: str) -> int:
    count = at = 0
    while at < len(text):
        repeat = 0  # the longest stretch from here that already occurred (overlap allowed)
        while at + repeat < len(text) and text[at : at + repeat + 1] in text[: at + repeat]:
            repeat += 1
        run = 1  # the longest run from here with one step of +1 or -1 between characters
        step = ord(text[at + 1]) - ord(text[at]) if at + 1 < len(text) else 0
        while (
            abs(step) == 1
            and at + run < len(text)
            and ord(text[at + run]) - ord(text[at + run - 1]) == step
        ):
            run += 1
        longest = max(repeat, run)
        at += longest if longest >= 3 else 1
        count += 1
    return count


def _checked_secret(secret: str, config: Config, state_dir: Path) -> str:
    if not is_weak_secret(secret):
        return secret
    if config.is_production:
        raise ConfigError(
            f"auth.jwt_secret: missing or weak: it must be at least {MIN_SECRET_BYTES} random "
            f"bytes (an estimated {MIN_SECRET_BITS} bits or more), not a word, a pattern or a "
            f"'change-me' placeholder. Set it (or JWT_SECRET) to the output of: {MAKE_A_SECRET}"
        )
    return _development_secret(state_dir)


def _development_secret(state_dir: Path) -> str:
    """A random secret generated once and kept under the state folder."""
    path = state_dir / "jwt_secret"
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing and not is_weak_secret(existing):
        return existing
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fresh = path.with_suffix(".new")
    fresh.unlink(missing_ok=True)
    # Created private (never readable by others, not even for a moment), then moved in place.
    with os.fdopen(os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(secret)
    os.replace(fresh, path)
    return secret
