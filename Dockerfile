# rotor in a container: a Debian 12 build stage, then a runtime stage with
# only the shared libraries rotor links, running as an unprivileged user.
#
#   docker build -t rotor .
#   docker run --rm -p 53:53/udp -p 53:53/tcp rotor
#
# Mount your own config and zones over /etc/rotor to serve them; relative zone
# paths in the config are resolved against the config file's directory.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config libldns-dev libuv1-dev nlohmann-json3-dev \
      libsqlitecpp-dev libsqlite3-dev libspdlog-dev libfmt-dev libcli11-dev doctest-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rm -rf build \
 && cmake --preset release -DROTOR_BUILD_TESTS=OFF \
 && cmake --build --preset release --target rotor \
 && strip build/release/rotor

FROM debian:bookworm-slim AS runtime
# libcap2-bin is only needed for setcap and is removed again in the same layer.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libldns3 libuv1 libspdlog1.10 libfmt9 libsqlite3-0 libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/rotor /usr/local/bin/rotor
# Port 53 is privileged. The file capability lets the non-root user bind it;
# alternatives are `docker run --cap-add NET_BIND_SERVICE`, the sysctl
# net.ipv4.ip_unprivileged_port_start=0, or, under systemd,
# AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit.
RUN setcap cap_net_bind_service=+ep /usr/local/bin/rotor \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && useradd --system --no-create-home --shell /usr/sbin/nologin rotor
COPY examples/zones/lb.example.test.zone /etc/rotor/zones/lb.example.test.zone
# The example zone on every IPv4 address of the container (Docker networks
# often have no IPv6; add "[::]:53" when yours does).
RUN printf '%s\n' \
      '{' \
      '  "listen": ["0.0.0.0:53"],' \
      '  "zones": ["lb.example.test=zones/lb.example.test.zone"],' \
      '  "log_level": "info"' \
      '}' > /etc/rotor/rotor.json
USER rotor
EXPOSE 53/udp 53/tcp
# SIGTERM stops rotor cleanly; SIGHUP (docker kill -s HUP) reloads the zones.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rotor"]
CMD ["serve", "--config", "/etc/rotor/rotor.json"]
