# Watchpost: `docker run -e SLACK_BOT_TOKEN=… -e SLACK_SIGNING_SECRET=… -p 3000:3000 watchpost`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/watchpost.db WATCHPOST_DATA_DIR=/data WATCHPOST_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
RUN pip install . && useradd --system --home /data watchpost && mkdir -p /data && chown watchpost /data
USER watchpost
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"WATCHPOST_PORT\",\"3000\")}/healthz')" || exit 1
ENTRYPOINT ["watchpost"]
CMD ["serve"]
