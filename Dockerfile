# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run from a distroless image as a non-root user.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so they are cached while the sources change.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin modelwatch \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin modelwatch \
    && mkdir -p /state

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/modelwatch /usr/local/bin/modelwatch
# The state directory must exist and belong to the non-root user for snapshots.
COPY --from=build --chown=nonroot:nonroot /state /var/lib/modelwatch
USER nonroot
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/modelwatch"]
CMD ["serve", "--listen", "0.0.0.0:8090"]
