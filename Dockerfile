# Build stage: compile with the lockfile, dependencies cached in their own layer.
FROM rust:1.91-bookworm AS build
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
# The simulated TikTok API is a workspace member (the `demo` and `simulate` commands use it).
COPY crates ./crates
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
COPY schemas ./schemas
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime stage: a small Debian with CA certificates, running as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 65532 --no-create-home nonroot
COPY --from=build /build/target/release/source-tiktok-marketing /connector/source-tiktok-marketing
USER nonroot:nonroot

LABEL FLOW_RUNTIME_PROTOCOL=capture
LABEL FLOW_RUNTIME_CODEC=json
LABEL CONNECTOR_PROTOCOL=flow-capture
LABEL io.airbyte.name=ghcr.io/estuary/source-tiktok-marketing
LABEL io.airbyte.version=0.1.0
ENV AIRBYTE_ENTRYPOINT="/connector/source-tiktok-marketing"
ENTRYPOINT ["/connector/source-tiktok-marketing"]
