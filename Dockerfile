# flext-quality for Fly.io (or any container host). Two stages: the release binary is built
# with cargo; the runtime has what the analysis backends need — git, bubblewrap (the jail),
# Python with the pinned tools installed here at build time (nothing is downloaded at start),
# and the Rust toolchain for the Clippy backend — and runs as a non-root user.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY tools ./tools
COPY benches ./benches
RUN cargo build --release --locked --bin flext-quality

FROM rust:1.95-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git bubblewrap python3 python3-venv libssl3 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /home/flext --uid 10001 flext \
 && mkdir -p /opt/flext-quality/tools /data \
 && chown -R flext:flext /opt/flext-quality /data
COPY --from=build /src/target/release/flext-quality /usr/local/bin/flext-quality
ENV FLEXT_QUALITY_TOOLS_DIR=/opt/flext-quality/tools \
    FLEXT_QUALITY_DATA_DIR=/data \
    PORT=8080 \
    LOG_FORMAT=json
USER 10001
# The pinned tools (tools/requirements.txt, compiled into the binary) go into the image.
RUN flext-quality tools install
EXPOSE 8080
ENTRYPOINT ["flext-quality"]
CMD ["serve"]
