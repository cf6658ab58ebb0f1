#!/bin/bash
# The bash completion (dist/bash-completion/peloton): what it offers where,
# and that every flag it offers is one `peloton --help` documents.
# usage: test_completion.sh COMPLETION_FILE PELOTON_BINARY
set -eu
source "$1"
help="$("$2" --help)"

offer() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_peloton
	echo "${COMPREPLY[*]}"
}

check() {
	local want="$1"
	shift
	local got
	got="$(offer "$@")"
	if [ "$got" != "$want" ]; then
		echo "completing '$*': got '$got', want '$want'" >&2
		exit 1
	fi
}

check "job" peloton jo
check "query" peloton job qu
check "query" peloton -j -t 20s task qu
check "query" peloton --jobmgr 127.0.0.1:1 task qu
check "--sort --sortorder" peloton task query JOB --sor
check "--names" peloton task query JOB --na
check "ASC" peloton job query -a A
check "stderr" peloton task logs JOB 0 -f stde
check "--range" peloton task stop JOB --ra
check "rollback" peloton update ro

for flag in $(grep -o -- '--[a-z][a-z-]*' "$1" | sort -u); do
	if ! grep -q -- "$flag" <<<"$help"; then
		echo "the completion offers $flag, which peloton --help does not document" >&2
		exit 1
	fi
done
echo "ok"
