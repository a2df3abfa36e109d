# Host controller image: the `testbed` CLI with every converter (torch CPU, executorch, TensorFlow,
# onnx, litert-torch) and an SSH client. Boards do not use this image: they install the agent alone
# (`pip install 'testbed[litert,onnxruntime]'`).
#
# NOTE: this image has not been built by the project's CI (no Docker engine on the build machines);
# it mirrors `make install` and pyproject.toml's `host` extra. Report problems.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/testbed
# CPU-only torch first (PyPI's default torch wheel for x86_64 Linux is the multi-GB CUDA build).
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY host host
COPY device_agent device_agent
COPY models models
COPY profiles profiles
RUN pip install --no-cache-dir '.[host]'

ENV TESTBED_HOME=/data TESTBED_PROFILES=/opt/testbed/profiles
VOLUME ["/data"]
ENTRYPOINT ["testbed"]
CMD ["--help"]
