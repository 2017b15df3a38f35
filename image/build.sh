#!/usr/bin/env bash
# Builds the agent VM image with mkosi: output/easyenclave.{vmlinuz,initrd,root.raw,cmdline} plus
# output/SHA256SUMS, output/packages.txt and output/expected-measurements.json (when FIRMWARE is given).
#
#   image/build.sh                      # needs root (or unprivileged user namespaces), mkosi $MKOSI_VERSION, network
#   FIRMWARE=/usr/share/qemu/OVMF.fd image/build.sh    # also computes the trust bundle of expected measurements
#   image/build.sh --plan               # prints the inputs and the commands, builds nothing (no root needed)
#
# Reproducible: every outside input is pinned in pins.env (Ubuntu snapshot, exact package versions, mkosi version),
# the partition UUIDs come from a fixed seed, the clock is SOURCE_DATE_EPOCH, finalize removes build entropy, and
# sparse holes are materialised. Two builds of one commit must give the same SHA256SUMS (the release checks it).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=pins.env
source "$here/pins.env"
out=${OUTPUT_DIR:-$here/output}
plan=false
[[ ${1:-} == --plan ]] && plan=true

mirror="https://snapshot.ubuntu.com/ubuntu/${UBUNTU_SNAPSHOT}"
mkosi_args=(
  --directory "$here"
  --mirror "$mirror"
  --seed "$IMAGE_SEED"
  --source-date-epoch "$SOURCE_DATE_EPOCH"
  --output-directory "$here/mkosi.output"
)
for v in KERNEL_PACKAGE NODE_MAJOR NODE_VERSION DOCKER_VERSION CONTAINERD_VERSION COMPOSE_VERSION CLOUDFLARED_VERSION; do
  mkosi_args+=(--environment "$v=${!v}")
done

if $plan; then
  echo "agent bundle:  npm run build:agent → mkosi.extra/opt/easyenclave/ee-agent.mjs"
  echo "mirror:        $mirror"
  printf 'build:         mkosi'; printf ' %q' "${mkosi_args[@]}"; echo ' build'
  echo "outputs:       $out/easyenclave.{vmlinuz,initrd,root.raw,cmdline}"
  exit 0
fi

command -v mkosi >/dev/null || { echo "mkosi $MKOSI_VERSION is required (pipx install mkosi==$MKOSI_VERSION)" >&2; exit 3; }
have=$(mkosi --version | awk '{print $2}')
[[ $have == "$MKOSI_VERSION" ]] || { echo "mkosi $MKOSI_VERSION is pinned, found $have" >&2; exit 3; }

# 1. The agent: one file, run by the image's Node.
(cd "$root" && npm run --silent build:agent)
install -D -m 0644 "$root/dist/ee-agent.mjs" "$here/mkosi.extra/opt/easyenclave/ee-agent.mjs"

# 2. The image.
export SOURCE_DATE_EPOCH
mkosi "${mkosi_args[@]}" --force build

# 3. Split artifacts → output/, holes materialised (QEMU wants real data).
rm -rf "$out" && mkdir -p "$out"
first() { find "$here/mkosi.output" -maxdepth 1 -name "$1" -type f | sort | head -1; }
cp "$(first 'easyenclave*.vmlinuz')" "$out/easyenclave.vmlinuz"
cp "$(first 'easyenclave*.initrd')" "$out/easyenclave.initrd"
cp --sparse=never "$here/mkosi.output/easyenclave.raw" "$out/easyenclave.root.raw"

# 4. The verity root hash, from the GPT: systemd-repart derives the root and root-verity partition UUIDs from it
#    (first and last 128 bits), so data-UUID ‖ hash-UUID is the hash.
part_uuid() { sfdisk --json "$out/easyenclave.root.raw" | TYPE=$1 python3 -c '
import json, os, sys
t = os.environ["TYPE"].upper()
print(next(p["uuid"] for p in json.load(sys.stdin)["partitiontable"]["partitions"] if p["type"].upper() == t))'; }
data=$(part_uuid 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709)
hash=$(part_uuid 2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5)
roothash=$(printf '%s%s' "$data" "$hash" | tr -d '-' | tr 'A-F' 'a-f')
[[ ${#roothash} -eq 64 ]] || { sfdisk --dump "$out/easyenclave.root.raw" >&2; echo "could not derive the root hash" >&2; exit 1; }
echo "roothash=$roothash systemd.verity_root_data=/dev/vda1 systemd.verity_root_hash=/dev/vda2 fsck.mode=skip console=tty0 console=ttyS0,115200" \
  >"$out/easyenclave.cmdline"

# 5. Manifest and, with the host's TDVF, the expected measurements of each measure VM.
cp "$here/mkosi.output/easyenclave/usr/share/easyenclave-packages.txt" "$out/packages.txt" 2>/dev/null || true
(cd "$out" && sha256sum easyenclave.vmlinuz easyenclave.initrd easyenclave.root.raw easyenclave.cmdline >SHA256SUMS)
if [[ -n ${FIRMWARE:-} ]]; then
  "$here/expected-measurements" --firmware "$FIRMWARE" --image "$out" --bundle >"$out/expected-measurements.json"
fi
cat "$out/SHA256SUMS"
