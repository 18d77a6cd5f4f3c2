# The servelab image: one static binary (gateway | bench | sim | report |
# probe) on an empty base. The stack builds it on each host that runs a
# gateway, a simulated engine or a benchmark.
FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/servelab ./cmd/servelab

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/servelab /servelab
# Multilingual prompts and other workloads are embedded in the binary.
ENTRYPOINT ["/servelab"]
