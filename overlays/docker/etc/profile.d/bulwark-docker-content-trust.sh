# Bulwark: the docker CLI in login shells pulls, runs, builds and pushes only
# signed image tags (Docker Content Trust, CIS Docker Benchmark 4.5). A node
# spec with docker.contentTrust: false replaces this file with one that sets
# nothing; `DOCKER_CONTENT_TRUST= docker pull ...` or `--disable-content-trust`
# overrides it for one command.
export DOCKER_CONTENT_TRUST=1
