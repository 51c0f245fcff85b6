# syntax=docker/dockerfile:1
# herald-emulator: Herald's AWS stand-in (moto plus SES events, faults and a message log) for development and tests;
# never deployed. Build from the repository root: docker build -f deploy/docker/emulator.Dockerfile -t herald-emulator:dev .
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/herald
ENV PATH=/opt/herald/bin:$PATH
# The services' locked packages first (the kit needs them), then the emulator and what it adds (moto and its server).
COPY deploy/docker/requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --no-deps -r /tmp/requirements.lock
COPY libs/common /src/libs/common
COPY libs/emulator /src/libs/emulator
RUN pip install --no-build-isolation /src/libs/common /src/libs/emulator

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 herald \
    && useradd --system --uid 10001 --gid herald --no-create-home --shell /usr/sbin/nologin herald
COPY --from=build /opt/herald /opt/herald
ENV PATH=/opt/herald/bin:$PATH PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 4566
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=30 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4566/_emulator/health', timeout=2)"]
ENTRYPOINT ["herald-emulator", "--host", "0.0.0.0", "--port", "4566"]
