# The Leadflow image: the API (`uvicorn api.app:app`), the worker (`python worker.py`) and the
# one-shot setup (`python -m ops.register_search_attributes`) all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The sources are copied one by one (no .venv/ or data/ in the image); add new top-level
# packages or modules here and in pyproject.toml.
COPY pyproject.toml worker.py ./
COPY core ./core
COPY channels ./channels
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY db ./db
COPY devtools ./devtools
COPY ops ./ops
COPY web ./web
# compileall: the workflow sandbox imports the workflow modules afresh for every lead it runs; without their
# bytecode on disk (PYTHONDONTWRITEBYTECODE) each run would compile them from source again (worker.py)
RUN pip install . \
    && python -m compileall -q /app \
    && useradd --create-home --uid 10001 leadflow \
    && mkdir -p /app/data && chown leadflow /app/data

USER leadflow
EXPOSE 8000
CMD ["uvicorn", "api.app:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]
