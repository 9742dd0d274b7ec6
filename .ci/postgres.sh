#!/usr/bin/env bash
# Make sure a PostgreSQL server (initdb, pg_ctl) is installed for the warehouse's server leg.
# Idempotent: installs Debian's `postgresql` only when no initdb is found. The tests start
# and stop their own throwaway cluster; nothing is started here.
set -euo pipefail

find_initdb() {
    if command -v initdb >/dev/null 2>&1; then
        command -v initdb
        return 0
    fi
    local candidate
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            echo "$candidate/initdb"
            return 0
        fi
    done
    return 1
}

if initdb_path=$(find_initdb); then
    echo "postgres.sh: PostgreSQL server already installed ($initdb_path); nothing to do"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: no initdb found and no apt-get to install it;" \
        "install the PostgreSQL server some other way or set TWIN_TEST_POSTGRES_URL" >&2
    exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "postgres.sh: no initdb found; installing Debian's postgresql with apt-get"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq postgresql >/dev/null

if initdb_path=$(find_initdb); then
    echo "postgres.sh: installed the PostgreSQL server ($initdb_path)"
else
    echo "postgres.sh: apt-get install postgresql finished but no initdb was found" >&2
    exit 1
fi
