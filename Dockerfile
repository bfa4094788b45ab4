# One image for both assocflow processes: the API (default command) and the worker.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml setup.py README.md ./
COPY assocflow ./assocflow
COPY application ./application
COPY cli ./cli
COPY domain ./domain
COPY store ./store
COPY contract ./contract
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY server ./server
COPY console ./console
COPY webhooks ./webhooks
COPY devstack ./devstack
COPY worker.py ./
# Bytecode compiled now: the workflow sandbox imports the workflow module for every workflow.
# The catalogues are compiled from their .po sources (never committed compiled) as the package
# is built (setup.py).
RUN pip install . && python -m compileall -q /app && useradd --system --uid 10001 assocflow
USER assocflow

EXPOSE 8000
ENV ASSOCFLOW_API_HOST=0.0.0.0 ASSOCFLOW_API_PORT=8000 ASSOCFLOW_WORKER_METRICS_ADDRESS=0.0.0.0:9464
CMD ["python", "-m", "server"]
