# The image users run: ghcr.io/estuary/source-tiktok-marketing (Flow and Airbyte).
#
# Build with BuildKit (the default of current docker; DOCKER_BUILDKIT=1 on older ones), which
# builds only the stages the image needs, and say the version, which Cargo.toml holds (the
# build checks that the binary reports the same):
#   docker build --build-arg CONNECTOR_VERSION=0.1.0 --tag source-tiktok-marketing .
# BINARY_FROM picks where the binary comes from; the runtime stage is the same either way:
#   build     (default) compiles it here, in the official Rust image, from this repository;
#   prebuilt  takes it from the build context, which then holds only the release binary
#             built on the host (.ci/image does this, so that CI compiles once).
ARG BINARY_FROM=build

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
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
    && mkdir /out && cp target/release/source-tiktok-marketing /out/

FROM scratch AS prebuilt
COPY source-tiktok-marketing /out/source-tiktok-marketing

FROM ${BINARY_FROM} AS binary

# Runtime stage: a small Debian and the binary, nothing else. No ca-certificates package (it
# brings OpenSSL, 9 MB): the binary carries Mozilla's roots, and also trusts a CA store mounted
# at /etc/ssl/certs (or named by SSL_CERT_FILE / SSL_CERT_DIR) and `advanced.ca_certificate`.
FROM debian:bookworm-slim
# A numeric user and group (65532, as distroless's nonroot), so that Kubernetes'
# runAsNonRoot can verify them, with a home directory that exists.
RUN groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --create-home --home-dir /home/nonroot \
       --shell /usr/sbin/nologin nonroot
COPY --from=binary /out/source-tiktok-marketing /connector/source-tiktok-marketing
# The one source of the version is Cargo.toml: the binary reports it, and the label must match.
ARG CONNECTOR_VERSION
RUN test -n "${CONNECTOR_VERSION}" \
        || { echo "Pass --build-arg CONNECTOR_VERSION=<the version in Cargo.toml>." >&2; exit 1; } \
    && reported="$(/connector/source-tiktok-marketing --version)" \
    && { test "${reported}" = "source-tiktok-marketing ${CONNECTOR_VERSION}" \
        || { echo "CONNECTOR_VERSION ${CONNECTOR_VERSION} is not the binary's (${reported}): use Cargo.toml's." >&2; exit 1; }; }
USER 65532:65532

LABEL FLOW_RUNTIME_PROTOCOL=capture
LABEL FLOW_RUNTIME_CODEC=json
LABEL CONNECTOR_PROTOCOL=flow-capture
LABEL io.airbyte.name=ghcr.io/estuary/source-tiktok-marketing
LABEL io.airbyte.version=${CONNECTOR_VERSION}
ENV AIRBYTE_ENTRYPOINT="/connector/source-tiktok-marketing"
# Exec form: the connector is PID 1 and handles SIGTERM itself (README, Stopping).
ENTRYPOINT ["/connector/source-tiktok-marketing"]
