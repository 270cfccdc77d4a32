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
USER wijkbrug
ENTRYPOINT ["wijkbrug"]
CMD ["--help"]
