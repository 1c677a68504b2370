# shellcheck shell=bash
# ci-s3.sh - sourced by .ci/run: starts the throwaway Ceph RGW (real S3 with Object Lock) through
# scripts/start-s3.sh and exports its connection (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY,
# S3_REGION, S3_FORCE_PATH_STYLE) plus INDELIBLE_REQUIRE_S3=1, which turns the S3 tests from
# "skip without a server" into "must run and pass".
#
#   . scripts/ci-s3.sh          # from the repository root, before `npm test`
#
# The first start installs Debian's ceph packages (~35 s); later starts take ~3 s. Stop the server
# with `bash scripts/start-s3.sh stop` (CI machines are thrown away, so .ci/run need not).
# Sourced, so it must not change the caller's shell options or exit it: failures `return 1`.

__indelible_s3_env=$(bash "$(dirname "${BASH_SOURCE[0]}")/start-s3.sh") || {
  echo "ci-s3.sh: starting S3 failed (see the log above)" >&2
  return 1
}
while IFS='=' read -r __indelible_k __indelible_v; do
  case "$__indelible_k" in
    S3_ENDPOINT | S3_ACCESS_KEY | S3_SECRET_KEY | S3_REGION | S3_FORCE_PATH_STYLE)
      export "$__indelible_k=$__indelible_v" ;;
  esac
done <<<"$__indelible_s3_env"
unset __indelible_s3_env __indelible_k __indelible_v
if [ -z "${S3_ENDPOINT:-}" ]; then
  echo "ci-s3.sh: start-s3.sh printed no S3_ENDPOINT" >&2
  return 1
fi
export INDELIBLE_REQUIRE_S3=1
echo "ci-s3.sh: S3 with Object Lock at $S3_ENDPOINT; S3 tests are mandatory" >&2
