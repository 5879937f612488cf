from setuptools import find_packages, setup

setup(
    name="cip",
    version="0.1.0",
    description="Conversational website backend: multi-tenant AI chat over SSE",
    python_requires=">=3.11",
    packages=find_packages(include=["cip", "cip.*"]),
    package_data={"cip.http": ["templates/*.html"]},
    # Floors exclude releases with published advisories that reach this service (the README's
    # "Dependencies" lists them); requirements.lock pins the exact releases, with hashes
    # (`make lock`).
    install_requires=[
        "aiohttp>=3.14.4,<4",
        "aiohttp-jinja2>=1.6",
        "asyncpg>=0.30",
        "yoyo-migrations>=9.0",
        "psycopg[binary]>=3.1",
        "pyjwt>=2.15.0",
        "bcrypt>=4.1",
        "aiosmtplib>=3.0",
        "pydantic>=2.7,<3",
        "pgserver>=0.1.4",
        "markdown-it-py>=3.0",
        "linkify-it-py>=2.0",  # markdown-it-py's autolinks of bare URLs and email addresses
        "orjson>=3.10",
        "email-validator>=2.1",
        "jinja2>=3.1.6",
        "uvloop>=0.19; sys_platform != 'win32'",
        "prometheus-client>=0.20",  # multiprocess gauges by `multiprocess_mode="livesum"`
        "pypdf>=5.0",  # the text of PDF documents in the knowledge base
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-aiohttp>=1.0",
            "aiosmtpd>=1.4",
            "trustme>=1.1",  # a certificate authority made in the test, for the SMTP TLS tests
            "schemathesis==4.32.5",  # its checks grow with each release: upgraded on purpose
            "playwright>=1.45",
            "tomli-w>=1.0",
            "aiosql>=15.0",  # compared with the own query loader by `make bench`
            "pyyaml>=6.0",  # reads the compose files (tests/test_deployment.py)
            # PostgreSQL's parser, for tests/test_sql_tenancy.py: pinned, as its grammar follows
            # PostgreSQL's releases.
            "pglast==8.8",
            # The gates (`make check`): pinned, so a new release cannot fail a green tree.
            "ruff==0.17.6",
            "mypy==2.4.1",
            "asyncpg-stubs==0.32.0",
            "types-PyYAML==6.0.12.20261122",
        ],
    },
    entry_points={"console_scripts": ["cip = cip.cli:main"]},
)
