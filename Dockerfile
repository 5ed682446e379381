# The signpipe image: the same pinned lock as local set-up, Python 3.10 (TFX 1.16's ceiling).
# Build: docker build -t signpipe .   Run: docker run --rm -v $PWD/data:/data signpipe validate /data
FROM python:3.10-slim-bookworm

ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/signpipe
RUN pip install uv==0.13.9
# Dependencies first, so code changes do not invalidate the 3 GB dependency layer.
COPY requirements/lock.txt requirements/lock.txt
RUN uv pip install --system --no-cache -r requirements/lock.txt
COPY setup.py pyproject.toml README.md ./
COPY signpipe signpipe
COPY pipeline pipeline
COPY components components
COPY models models
COPY data data
COPY schemas schemas
RUN uv pip install --system --no-cache --no-deps .

ENTRYPOINT ["signpipe"]
CMD ["--help"]
