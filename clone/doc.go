// Package clone turns a template made by xenimg build (root.img, swap.img,
// recipe.toml, manifest.json) into N cluster slaves, each with its own
// identity, and writes the master's side of the cluster.
//
// Targets: "dir" makes DIR/slaves/<hostname>/root.img and swap.img as
// sparse files, by reflink (FICLONE) where the filesystem supports it and
// otherwise by copying only the blocks the template's ext3 bitmaps mark in
// use (holes and all-zero blocks stay holes). "lvm:VG" creates inactive
// logical volumes with lvm2 and writes them through their physical volumes
// (package clone/lvm), so no device-mapper is needed. lvm2 does not zero
// them; clone zeroes each LV with BLKZEROOUT on its PV (a loop device
// makes that a fallocate: fast), or where the ioctl is missing writes zeros
// over the blocks it does not copy, so no slave shows what the disk held
// before (another slave's keys).
//
// Every slave is then edited in place with builder/ext3's editor, without
// mounting: /etc/hostname, /etc/hosts, /etc/mailname, the address in
// /etc/network/interfaces, SSH host keys, /root/.ssh/authorized_keys and
// authorized_keys2, machine-id, random seeds, udev persistent-net rules,
// DHCP leases, the filesystem UUID and the swap UUID (and fstab's UUID=
// lines that named the template's). The master gets DIR/cluster/ (hosts,
// pvm_hosts, mpi_hosts, known_hosts, ssh_config, inventory.json, ssh/ with
// its key pair) and DIR/xen/<hostname>.cfg.
//
// Secrets: every key, UUID, machine-id and random seed derives from one
// 32-byte seed (DIR/cluster/ssh/seed, or Options.Seed). The package never
// draws randomness itself: a new seed is read from Options.Rand, which the
// command sets to crypto/rand.
//
// Atomicity: new slaves are made under staging names (a directory
// slaves/.staging-*, LVs NAME.xenimg-new) and published only when every
// slave of the run succeeded; a replaced slave's old volumes stay until
// then (LVM: renamed to NAME.xenimg-old, the new ones renamed in, then
// the old ones removed; --force needs room for both).
// One run at a time holds DIR/cluster/.lock; under it, Run looks at the
// target again (New looked without it, so another run may have made
// slaves since) and removes what a killed run left. Nothing existing is
// replaced without Force. A slave whose volumes exist and whose
// /etc/hostname is its own is complete: it is kept byte for byte (its
// /etc/hosts then lists the slaves of the run that made it; the master's
// cluster/hosts lists all) and its host keys are read back for known_hosts.
// Any other existing volume is an error naming the slave and the volume
// unless Options.Force, which remakes every slave 1..N. Complete slaves
// beyond N (from an earlier run with a larger N) are kept as they are,
// even with Force, and stay in the cluster files; New logs each. Images are not
// fsynced: a power cut right after a run may need a rerun with Force.
//
// Host keys: RSA is 3072 bits on modern suites (ssh-keygen's default), the
// slow part of a run (about 0.2 s of CPU per slave); Options.RSABits trades
// it down. On a filesystem without reflink the copy writes every used data
// block once per slave (copy_file_range), so a template's used size, not
// its apparent size, sets the cost.
//
// Not supported: templates on LVM (snapshots of a template LV), network
// configuration other than ifupdown's /etc/network/interfaces (a slave
// whose template uses DHCP or has no interfaces file keeps it and gets its
// address from DHCP by MAC), guests whose root is not ext2/ext3.
package clone
