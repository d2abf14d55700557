# rotor in a container: a Debian 12 build stage, then a runtime stage with
# only the shared libraries rotor links, running as an unprivileged user.
# The build stage also builds the web console (Node.js and npm from Debian;
# `npm ci` fetches the lockfile's packages from the npm registry) and embeds
# it in the binary: the runtime stage needs no Node.
#
#   docker build -t rotor .
#   docker run --rm -p 5300:53/udp -p 5300:53/tcp rotor
#   dig @127.0.0.1 -p 5300 www.lb.example.test
#
# The image serves the example zone and the example array on port 53, with
# the API on 127.0.0.1:8053 inside the container (the HEALTHCHECK uses it).
# Mount your own config over /etc/rotor/rotor.json (zones beside it) and a
# volume on /var/lib/rotor for the registry's database. To reach the API from
# outside, listen on 0.0.0.0:8053 and set ROTOR_API_TOKEN: rotor refuses a
# non-loopback API without a token. examples/compose/ shows both.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config ca-certificates \
      libldns-dev libuv1-dev nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev \
      libspdlog-dev libfmt-dev libcli11-dev libmaxminddb-dev libcurl4-openssl-dev libhttp-parser-dev \
      libcpp-httplib-dev prometheus-cpp-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rm -rf build \
 && cmake --preset release -DROTOR_BUILD_TESTS=OFF \
 && cmake --build --preset release --target rotor \
 && strip build/release/rotor

FROM debian:bookworm-slim AS runtime
# libcap2-bin is only needed for setcap and is removed again in the same layer.
# curl runs the HEALTHCHECK; ca-certificates serve HTTPS checks with tls_verify.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libldns3 libuv1 libspdlog1.10 libfmt9 libsqlite3-0 libmaxminddb0 libcurl4 libhttp-parser2.9 \
      libcpp-httplib0.11 libprometheus-cpp-core1.0 ca-certificates curl libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/rotor /usr/local/bin/rotor
# Port 53 is privileged. The file capability lets the non-root user bind it;
# alternatives are `docker run --cap-add NET_BIND_SERVICE`, the sysctl
# net.ipv4.ip_unprivileged_port_start=0, or, under systemd,
# AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit.
RUN setcap cap_net_bind_service=+ep /usr/local/bin/rotor \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && useradd --system --no-create-home --shell /usr/sbin/nologin rotor \
 && mkdir -p /var/lib/rotor && chown rotor /var/lib/rotor
COPY examples/zones/lb.example.test.zone /etc/rotor/zones/lb.example.test.zone
# The example zone and array on every IPv4 address of the container (Docker
# networks often have no IPv6; add "[::]:53" when yours does).
RUN printf '%s\n' \
      '{' \
      '  "listen": ["0.0.0.0:53"],' \
      '  "api": {"listen": "127.0.0.1:8053"},' \
      '  "db": "/var/lib/rotor/rotor.db",' \
      '  "zones": ["lb.example.test=zones/lb.example.test.zone"],' \
      '  "arrays": [{"name": "web.lb.example.test", "ttl": 30, "degraded_ttl": 5}],' \
      '  "log_level": "info"' \
      '}' > /etc/rotor/rotor.json \
 && /usr/local/bin/rotor check --config /etc/rotor/rotor.json
USER rotor
VOLUME /var/lib/rotor
EXPOSE 53/udp 53/tcp 8053/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD curl -fsS http://127.0.0.1:8053/healthz || exit 1
# SIGTERM stops rotor cleanly; SIGHUP (docker kill -s HUP) reloads the zones.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rotor"]
CMD ["serve", "--config", "/etc/rotor/rotor.json"]
