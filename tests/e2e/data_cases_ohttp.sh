# The collector cases again, each plain report sealed in Oblivious HTTP to
# /v1/ohttp: same inner answers, same rows (see data_cases.sh).
STS_CASES_VIA=ohttp exec bash "$(dirname "${BASH_SOURCE[0]}")/data_cases.sh" "$@"
