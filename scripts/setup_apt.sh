#!/usr/bin/env bash
# Install the Debian packages listed in apt-packages.txt; a no-op when all are there.
#
#     scripts/setup_apt.sh [LIST]
#
# Exact versions are installed as listed; "major:N" entries (Chromium, whose old builds
# leave the security archive) take any version >= N.  chromium and chromium-driver are
# always installed together so their versions match.
set -euo pipefail
list=${1:-apt-packages.txt}

installed_version() {
    { dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null || true; } |
        sed -n 's/^ii  *//p'
}

missing=()
while read -r name wanted _; do
    [[ -z ${name} || ${name} == \#* ]] && continue
    have=$(installed_version "${name}")
    if [[ ${wanted} == major:* ]]; then
        major=${wanted#major:}
        if [[ -n ${have} && ${have%%.*} =~ ^[0-9]+$ && ${have%%.*} -ge ${major} ]]; then
            continue
        fi
        missing+=("${name}")
    else
        [[ ${have} == "${wanted}" ]] && continue
        missing+=("${name}=${wanted}")
    fi
done < "${list}"

if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]]; then
        echo "setup_apt: these Debian packages are missing and installing them needs root:" >&2
        printf '    %s\n' "${missing[@]}" >&2
        exit 1
    fi
    echo "setup_apt: installing ${missing[*]}"
    apt-get update -qq
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null; then
        echo "setup_apt: apt-get install failed for: ${missing[*]}" >&2
        echo "setup_apt: if a pinned version is no longer offered, update ${list}" >&2
        exit 1
    fi
fi

chromium=$(installed_version chromium)
driver=$(installed_version chromium-driver)
if [[ ${chromium} != "${driver}" ]]; then
    echo "setup_apt: chromium ${chromium} and chromium-driver ${driver} differ;" \
         "run: apt-get install chromium chromium-driver" >&2
    exit 1
fi
echo "setup_apt: Debian packages ready (chromium ${chromium})"
