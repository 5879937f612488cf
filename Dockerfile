# Base image by tag (see README "Deployment" on pinning it by digest).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CIP_CONFIG=/app/config.toml

WORKDIR /app
RUN useradd --system --home-dir /app --shell /usr/sbin/nologin cip

# The dependencies exactly as locked, every file checked against its hash (`make lock`
# regenerates requirements.lock); the lock also brings the build backend.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

# Editable install: the package finds sql/, migrations/, prompts/ and static/ beside it. No
# dependency is resolved or downloaded here: all came from the lock.
COPY setup.py ./
COPY cip ./cip
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e .

COPY sql ./sql
COPY migrations ./migrations
COPY prompts ./prompts
COPY static ./static
COPY config.toml ./
RUN mkdir -p /app/var && chown cip /app/var

USER cip
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
CMD ["cip", "serve"]
