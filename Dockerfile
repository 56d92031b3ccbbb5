# Tollgate's container image: the one binary and its web UI on Debian slim,
# run as an unprivileged user, with a health check.
#
#   podman build -t tollgate .        (or docker build)
#
# The build stage compiles everything from source, as scripts/run.sh does.
# scripts/image.sh builds the runtime stage alone from a local build and a
# local Debian base (these machines reach no container registry) and starts
# the image's own binary from its exported filesystem.
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
ENV CARGO_TARGET_DIR=/src/target
COPY . .
RUN scripts/bootstrap.sh run \
 && cargo leptos build --release --split --precompress \
 && mkdir -p /out \
 && cp target/release/tollgate /out/tollgate \
 && cp -r target/site /out/site

FROM ${RUNTIME_IMAGE} AS runtime
# Root certificates for providers over HTTPS; a user of its own with no
# shell and no password, owning only the data directory.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tollgate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin tollgate \
 && mkdir -p /var/lib/tollgate \
 && chown tollgate:tollgate /var/lib/tollgate \
 && chmod 0700 /var/lib/tollgate
COPY --from=build /out/tollgate /usr/local/bin/tollgate
COPY --from=build /out/site /usr/share/tollgate/site
ENV TOLLGATE__SERVER__ADDR=0.0.0.0:3000 \
    TOLLGATE__SERVER__SITE_ROOT=/usr/share/tollgate/site \
    TOLLGATE__DATA_DIR=/var/lib/tollgate \
    TOLLGATE__LOG__FORMAT=json
USER 10001:10001
WORKDIR /var/lib/tollgate
VOLUME /var/lib/tollgate
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/tollgate", "health"]
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["serve"]
