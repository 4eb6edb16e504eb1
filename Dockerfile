# The readingroom image for the distributed mode: `web` and `worker` in docker-compose.yml run it.
# It holds tesseract but no Meilisearch: production talks to the separate meilisearch service.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    READINGROOM_DATA_DIR=/data
# One thread per tesseract process: the pipeline already runs one process per core.
ENV OMP_THREAD_LIMIT=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr \
        tesseract-ocr-eng \
        tesseract-ocr-spa \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 readingroom \
    && useradd --system --uid 10001 --gid readingroom --create-home \
        --home-dir /home/readingroom --shell /usr/sbin/nologin readingroom \
    && mkdir /data \
    && chown readingroom:readingroom /data

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app

# Dependencies first, against empty packages, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN mkdir app ingest \
    && touch app/__init__.py ingest/__init__.py \
    && pip install . \
    && rm -rf app ingest build ./*.egg-info

COPY . .
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q app ingest

# The code finds frontend/ and alembic/ beside its own source (app.config.PROJECT_ROOT), and
# pyproject.toml ships only the app and ingest packages, so run the code from this tree; the
# installed copy supplies the dependencies and the `readingroom` command.
ENV PYTHONPATH=/app

USER 10001:10001

EXPOSE 8000

# No HEALTHCHECK here: the worker runs this image too, and docker-compose.yml gives each its own.
CMD ["readingroom", "serve", "--host", "0.0.0.0", "--port", "8000"]
