# The action-server image (Python 3.11: actions, knowledge base, bookings), for deploy/compose.yml and
# deploy/k8s/. Not built by any test here; see README.
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=/opt/yinling
WORKDIR /opt/yinling
COPY requirements/app.lock requirements/app.lock
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir --no-deps -r requirements/app.lock
COPY . .
RUN useradd --system yinling && mkdir -p var && chown -R yinling /opt/yinling
USER yinling
EXPOSE 5055
CMD [".venv/bin/python", "-m", "actions.server", "--host", "0.0.0.0", "--port", "5055"]
