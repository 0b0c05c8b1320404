# The store image: the project installed from pyproject.toml, nothing else. One image runs every
# role: `amazing-store run` (web processes), `amazing-store worker`, `amazing-store migrate`.
# An example for docker-compose.yml; CI does not build it (README "Production").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml ./
COPY store ./store
COPY db ./db
COPY bot ./bot
COPY webapp ./webapp
COPY sync ./sync
RUN pip install . \
    && useradd --system --create-home --home-dir /var/lib/amazing-store --shell /usr/sbin/nologin shop

USER shop
# DATA_DIR keeps what must survive a restart beside the database (a generated WEBHOOK_SECRET);
# with DATABASE_URL and REDIS_URL set nothing embedded ever starts.
ENV DATA_DIR=/var/lib/amazing-store \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["amazing-store", "run"]
