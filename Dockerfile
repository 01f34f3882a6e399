# The lienthong image: every process of the system, chosen by `lienthong run <process>`.
#
#   docker build -t lienthong .
#   docker run --rm lienthong                 # lienthong --help
#   docker run --rm lienthong run --help
#
# Configuration comes only from the environment at run time (INTAKE_*, ROUTING_* …);
# no key, password or client list is baked into the image. docker-compose.yml runs it.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The pinned dependency tree first, so editing the code does not reinstall it.
COPY requirements.lock /tmp/requirements.lock
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

# Then the project itself. .dockerignore lets only pyproject.toml, README.md and the packages
# of pyproject.toml into the context, so a package folder that does not exist yet is no error.
WORKDIR /tmp/lienthong
COPY . .
RUN pip install --no-deps . && cd / && rm -rf /tmp/lienthong

# Run unprivileged. The numeric id lets orchestrators check `runAsNonRoot`; a client list
# mounted from the host must be readable by it (it holds only SHA-256 hashes of secrets).
RUN groupadd --system --gid 10001 lienthong \
    && useradd --system --uid 10001 --gid lienthong --home-dir /home/lienthong --create-home \
       --shell /usr/sbin/nologin lienthong
USER 10001:10001
WORKDIR /home/lienthong

EXPOSE 8001
ENTRYPOINT ["lienthong"]
CMD ["--help"]
