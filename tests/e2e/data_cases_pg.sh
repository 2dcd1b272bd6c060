# The collector cases again on PostgreSQL: each case in an empty schema of a
# throwaway cluster, read back through the same commands (see data_cases.sh).
# Skipped without the server binaries, and under the sanitizer build, where
# the run would take most of the test's time limit (about 5 minutes for the
# 456 cases in the release build on a loaded 2-core machine); data_cases.sh
# still runs every case on SQLite there.
if nm "$STS_BIN/sts-collector" 2>/dev/null | grep -q '__asan_init'; then
    echo "skipped: a sanitizer build (the PostgreSQL run of every case is left to the release build)"
    exit 0
fi
STS_DATA_BACKEND=postgresql exec bash "$(dirname "${BASH_SOURCE[0]}")/data_cases.sh" "$@"
