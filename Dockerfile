# The engine, consumers and command line in one image (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY payments ./payments
COPY projections ./projections
COPY consumers ./consumers
RUN pip install . && useradd --system --no-create-home payments

USER payments
ENTRYPOINT ["payments"]
CMD ["--help"]
