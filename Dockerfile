# The wijkbrug image: the domain package, the connectors and the human-reviewed data files.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 wijkbrug
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY connectors ./connectors
COPY schemas ./schemas
COPY config ./config
COPY partners ./partners
COPY expectations ./expectations
RUN pip install --no-cache-dir .
# The state dir (keys, reports, drops): a named volume in docker-compose.yml takes this owner and
# mode when it is first mounted; the Airflow image (Dockerfile.airflow) makes it the same way and
# docker-compose.yml runs Airflow as this uid, so both read the keys.
RUN install -d -o 10001 -g 0 -m 0700 /var/lib/wijkbrug
USER wijkbrug
ENTRYPOINT ["wijkbrug"]
CMD ["--help"]
