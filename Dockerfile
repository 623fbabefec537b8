# Multi-stage build. The builder compiles everything the binary needs — SQLite, libpq and
# OpenSSL included (the default `bundled-libpq` feature, see Cargo.toml) — so the runtime image
# carries no compiler, no libpq5 and no libssl: only CA certificates and the binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p zenqms-bridge \
    && install -D -m 0755 target/release/zenqms-bridge /out/zenqms-bridge

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin bridge \
    && install -d -o 10001 -g 10001 -m 0700 /data
COPY --from=build /out/zenqms-bridge /usr/local/bin/zenqms-bridge
# Non-root; the root file system can be read-only (docker-compose.yml does so): the bridge
# writes only DATA_DIR (its SQLite database, when used, and the generated secret key).
USER 10001:10001
# The vendored OpenSSL looks for CA certificates under /usr/local/ssl by default; point it at
# Debian's bundle so `sslmode=verify-full` with `sslrootcert=system` works.
ENV BIND_ADDR=0.0.0.0:8080 DATA_DIR=/data LOG_FORMAT=json \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt SSL_CERT_DIR=/etc/ssl/certs
EXPOSE 8080
VOLUME ["/data"]
# No curl in the image: bash speaks just enough HTTP to ask /readyz (database reachable,
# migrations applied) and looks for a 200 on the status line.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${BIND_ADDR##*:} && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 2 _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["zenqms-bridge"]
CMD ["serve"]
