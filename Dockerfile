# Multi-stage build: a Rust builder, then a slim runtime with only libpq and CA certificates.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p zenqms-bridge

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /data bridge && mkdir /data && chown bridge /data
COPY --from=build /src/target/release/zenqms-bridge /usr/local/bin/zenqms-bridge
USER bridge
ENV BIND_ADDR=0.0.0.0:8080 DATA_DIR=/data LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["zenqms-bridge"]
CMD ["serve"]
