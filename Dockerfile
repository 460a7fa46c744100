# edgeperf API / worker / agent image.
#   docker build -t edgeperf .
# TORCH_INDEX_URL may name a PyTorch wheel index (e.g. the CPU-only one) to keep the image small;
# empty means the default package index.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EDGEPERF_DATA_DIR=/data

WORKDIR /app
ARG TORCH_INDEX_URL=""
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==2.13.0"

COPY pyproject.toml README.md alembic.ini ./
COPY edgeperf ./edgeperf
COPY service ./service
COPY predictor ./predictor
COPY agent ./agent
COPY datasets ./datasets
COPY migrations ./migrations
RUN pip install ".[litert]"

RUN useradd --system --uid 10001 --home-dir /data edgeperf && mkdir -p /data && chown edgeperf /data
USER edgeperf
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"

CMD ["edgeperf", "serve", "--host", "0.0.0.0", "--port", "8000"]
