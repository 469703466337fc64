# The agent as an image: `docker build -f infra/agent.Dockerfile -t tahobuddy-agent .` from a checkout.
# It installs only the agent package (`.[agent]`: no chalice, pynamodb or moto) and runs as a non-root
# user. Docker builds need the host's engine: mount /var/run/docker.sock and pass its group id
# (`--group-add $(stat -c %g /var/run/docker.sock)`), or use the ECS task in infra/agent_ecs.py.
# The first SIGTERM (docker stop -t 1800) lets the running deploy finish; a second cancels it.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client docker.io \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY functions ./functions
COPY runners ./runners
COPY agent ./agent
COPY cli ./cli
COPY local ./local
COPY infra ./infra
RUN pip install --no-cache-dir ".[agent]" && rm -rf /src

RUN groupadd --system tahobuddy \
    && useradd --system --gid tahobuddy --groups docker --home-dir /var/lib/tahobuddy --create-home tahobuddy
USER tahobuddy
WORKDIR /var/lib/tahobuddy
ENV TAHOBUDDY_WORKDIR=/var/lib/tahobuddy PYTHONUNBUFFERED=1

STOPSIGNAL SIGTERM
ENTRYPOINT ["tahobuddy", "agent"]
