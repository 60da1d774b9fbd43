"""Running the platform: binaries, the local process supervisor, container and cluster manifests."""
