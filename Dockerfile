# syntax=docker/dockerfile:1
# Build a static hazardbot binary, then run it as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hazardbot ./cmd/hazardbot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hazardbot /usr/local/bin/hazardbot
# The data dir (photos, SQLite) belongs to the unprivileged user.
COPY --from=build --chown=65532:65532 /out/data /data
ENV HAZARDBOT_ADDR=:8080 \
    HAZARDBOT_DATA_DIR=/data \
    HAZARDBOT_LOG_FORMAT=json \
    TZ=Asia/Shanghai
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/hazardbot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/hazardbot"]
CMD ["serve"]
