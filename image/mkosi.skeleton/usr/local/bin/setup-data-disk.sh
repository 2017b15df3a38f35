#!/usr/bin/env bash
# /data: a host-attached /dev/vdb encrypted under a key that exists only in TD memory for this boot (the host sees
# ciphertext, the data is gone at reboot), else a tmpfs in TD-encrypted RAM.
set -euxo pipefail
if [[ -b /dev/vdb ]]; then
  key=/run/data-disk.key
  head -c 32 /dev/urandom >"$key"
  cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 256 --key-file "$key" /dev/vdb data_crypt
  shred -u "$key"
  mkfs.ext4 -q -E lazy_itable_init=1,lazy_journal_init=1 -L data /dev/mapper/data_crypt
  mount -o nosuid,nodev /dev/mapper/data_crypt /data
else
  mount -t tmpfs -o nosuid,nodev tmpfs /data
fi
install -d /data/docker /data/containerd /data/workload /data/ee-agent
rm -rf /var/lib/docker /var/lib/containerd
ln -sfn /data/docker /var/lib/docker
ln -sfn /data/containerd /var/lib/containerd
