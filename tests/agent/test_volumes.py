"""Volumes: mountinfo parsing, classification against fake sysfs/udev/dev trees, the table's
diffs and path lookups, the macOS and Windows sources through their seams, and the mount
monitor (with a real tmpfs mount where this machine allows it)."""

from __future__ import annotations

import ctypes
import os
import plistlib
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hashwatch.agent.volumes import (
    DRIVE_CDROM,
    DRIVE_FIXED,
    DRIVE_NO_ROOT_DIR,
    DRIVE_RAMDISK,
    DRIVE_REMOTE,
    DRIVE_REMOVABLE,
    PSEUDO_FSTYPES,
    LinuxVolumes,
    MacVolumes,
    MountMonitor,
    Volume,
    VolumeTable,
    WindowsVolumes,
    default_source,
    format_volume_serial,
    parse_mountinfo,
    parse_mountinfo_line,
    parse_storage_descriptor,
    unescape_udev,
    windows_kind,
)

# -- a fake Linux machine ------------------------------------------------------------------

USB = "devices/pci0000:00/0000:00:14.0/usb2"
STICK = f"{USB}/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1"
LUKS_STICK = f"{USB}/2-2/2-2:1.0/host7/target7:0:0/7:0:0:0/block/sdc/sdc1"
PLAIN_STICK = f"{USB}/2-3/2-3:1.0/host8/target8:0:0/8:0:0:0/block/sdd/sdd1"
NVME = "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0"
DVD = "devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/block/sr0"
SD = "devices/platform/soc/mmc_host/mmc0/mmc0:aaaa"
EMMC = "devices/platform/soc/mmc_host/mmc1/mmc1:0001"
DM = "devices/virtual/block/dm-0"

MOUNTINFO = rb"""22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
32 23 0:29 / /sys/fs/cgroup/legacy rw,nosuid shared:5 - tmpfs tmpfs rw,mode=755
27 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
24 27 0:6 / /dev rw,nosuid,relatime shared:8 - devtmpfs udev rw,size=8000000k,mode=755
26 24 0:24 / /dev/pts rw,nosuid,noexec,relatime shared:9 - devpts devpts rw,gid=5,mode=620
25 24 0:23 / /dev/shm rw,nosuid,nodev shared:10 - tmpfs tmpfs rw,inode64
33 27 0:30 / /run/user/1000 rw,nosuid,nodev,relatime shared:300 - tmpfs tmpfs rw,mode=700,uid=1000
34 27 0:60 /@home /home rw,relatime shared:40 - btrfs /dev/nvme0n1p3 rw,ssd,subvol=/@home
60 27 8:17 / /media/alice/STICK\040ONE rw,nosuid,relatime shared:400 - vfat /dev/sdb1 rw,fmask=0022
61 27 0:50 / /mnt/nfs rw,relatime shared:410 - nfs4 fileserver:/export/home rw,vers=4.2
62 27 0:51 / /mnt/finance\040share rw,relatime shared:420 - cifs //fs01/finance\040share rw,vers=3
63 27 11:0 / /media/alice/HOLIDAY_DVD ro,nosuid,relatime shared:430 - iso9660 /dev/sr0 ro,map=n
64 27 179:1 / /media/alice/SDCARD rw,nosuid,relatime shared:440 - exfat /dev/mmcblk0p1 rw,fmask=0022
65 27 179:9 / /var/lib/data rw,relatime shared:450 - ext4 /dev/mmcblk1p1 rw
66 27 253:0 / /media/alice/SECRET rw,nosuid,nodev,relatime shared:460 - ext4 /dev/mapper/luks-abc rw
67 27 8:49 / /media/alice/NONAME rw,nosuid,nodev,relatime shared:470 - vfat /dev/sdd1 rw
68 27 7:3 / /snap/core22/1234 ro,nodev,relatime shared:480 - squashfs /dev/loop3 ro,errors=continue
69 27 0:70 / /var/lib/docker/overlay2/0abc/merged rw,relatime - overlay overlay rw,lowerdir=/x
70 27 0:71 / /mnt/odd\011tab\134back\377 rw,relatime shared:490 - tmpfs odd rw
71 27 0:72 / /home/alice/remote rw,nosuid,relatime shared:500 - fuse.myfs alice@host:/data rw
72 27 0:73 / /home/alice/vault rw,nosuid,relatime shared:510 - fuse.gocryptfs /home/alice/.vault rw
73 27 0:74 / /mnt/a rw shared:520 - tmpfs a rw
74 27 0:75 / /mnt/ab rw shared:530 - tmpfs ab rw
75 27 8:2 / /mnt/over rw shared:540 - ext4 /dev/sda2 rw
76 75 0:76 / /mnt/over rw shared:550 - tmpfs top rw
77 27 0:77 / /media/alice/RAMSTICK rw shared:560 - tmpfs ramstick rw
78 27 0:78 / /proc/sys/fs/binfmt_misc rw,relatime shared:570 - binfmt_misc binfmt_misc rw
this is not a mountinfo line
80 27 8:1 / /broken rw,relatime - ext4
81 27 8:1 / /no-separator rw,relatime ext4 /dev/sda1 rw
x2 27 8:1 / /bad-id rw,relatime - ext4 /dev/sda1 rw
83 27 8-1 / /bad-devno rw,relatime - ext4 /dev/sda1 rw

"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _link(link: Path, target: Path) -> None:
    """A relative symlink, as sysfs and udev make them."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


def _block(sys_root: Path, rel: str, majmin: str, partition: int | None = None) -> Path:
    """A sysfs block device directory plus its /sys/dev/block and /sys/class/block links."""
    path = sys_root / rel
    _write(path / "dev", majmin + "\n")
    if partition is not None:
        _write(path / "partition", f"{partition}\n")
    _link(sys_root / "dev" / "block" / majmin, path)
    _link(sys_root / "class" / "block" / path.name, path)
    return path


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Path]:
    sys_root, dev, udev = tmp_path / "sys", tmp_path / "dev", tmp_path / "udev"

    # USB stick sdb (removable=1), described by udev
    _block(sys_root, STICK, "8:17", partition=1)
    _write(sys_root / STICK / ".." / "removable", "1\n")
    _write(sys_root / USB / "idVendor", "1d6b\n")  # the root hub: its "serial" is a PCI address
    _write(sys_root / USB / "serial", "0000:00:14.0\n")
    _write(sys_root / USB / "2-1" / "idVendor", "0781\n")
    _write(sys_root / USB / "2-1" / "serial", "4C530001230101112345\n")
    _write(
        udev / "b8:17",
        "S:disk/by-label/STICK\\x20ONE\n"
        "E:ID_FS_LABEL=STICK_ONE\n"
        "E:ID_FS_LABEL_ENC=STICK\\x20ONE\n"
        "E:ID_FS_UUID=1234-ABCD\n"
        "E:ID_FS_TYPE=vfat\n"
        "E:ID_SERIAL_SHORT=4C530001230101112345\n"
        "E:ID_BUS=usb\n",
    )

    # LUKS on a USB stick that claims removable=0; no udev: serial from the USB device
    _block(sys_root, LUKS_STICK, "8:33", partition=1)
    _write(sys_root / LUKS_STICK / ".." / "removable", "0\n")
    _write(sys_root / USB / "2-2" / "idVendor", "090c\n")
    _write(sys_root / USB / "2-2" / "serial", "AA00000000012345\n")
    dm = _block(sys_root, DM, "253:0")
    _write(dm / "removable", "0\n")
    _link(dm / "slaves" / "sdc1", sys_root / LUKS_STICK)
    _link(dev / "mapper" / "luks-abc", dev / "dm-0")
    _write(dev / "disk" / "by-label" / "README", "not a link\n")  # ignored

    # a USB stick without a USB serial and no udev: falls back to the FAT serial
    _block(sys_root, PLAIN_STICK, "8:49", partition=1)
    _write(sys_root / PLAIN_STICK / ".." / "removable", "0\n")
    _write(sys_root / USB / "2-3" / "idVendor", "abcd\n")
    _link(dev / "disk" / "by-uuid" / "ABCD-1234", dev / "sdd1")

    # NVMe system disk: serial from the controller (padded with spaces, as NVMe does)
    _write(sys_root / NVME / "serial", "S4EWNX0R123456      \n")
    _write(sys_root / NVME / "nvme0n1" / "removable", "0\n")
    _link(sys_root / NVME / "nvme0n1" / "device", sys_root / NVME)
    _block(sys_root, f"{NVME}/nvme0n1/nvme0n1p2", "259:2", partition=2)
    _block(sys_root, f"{NVME}/nvme0n1/nvme0n1p3", "259:3", partition=3)
    _link(dev / "disk" / "by-label" / "ROOT\\x20DISK", dev / "nvme0n1p2")
    _link(dev / "disk" / "by-label" / "home", dev / "nvme0n1p3")
    _link(dev / "disk" / "by-uuid" / "0b4c6f0e-8f3a-4d2b-9c1e-5a6b7c8d9e0f", dev / "nvme0n1p2")

    # DVD drive (removable=1, like every real sr device)
    sr0 = _block(sys_root, DVD, "11:0")
    _write(sr0 / "removable", "1\n")
    _write(
        udev / "b11:0",
        "E:ID_FS_LABEL=HOLIDAY_DVD\nE:ID_FS_UUID=2023-07-01-10-00-00-00\n"
        "E:ID_SERIAL_SHORT=DRIVE0001\n",
    )

    # SD card (removable=0, type SD) and soldered-on eMMC (type MMC)
    _write(sys_root / SD / "type", "SD\n")
    _write(sys_root / SD / "serial", "0x1234abcd\n")
    _write(sys_root / SD / "block" / "mmcblk0" / "removable", "0\n")
    _link(sys_root / SD / "block" / "mmcblk0" / "device", sys_root / SD)
    _block(sys_root, f"{SD}/block/mmcblk0/mmcblk0p1", "179:1", partition=1)
    _write(sys_root / EMMC / "type", "MMC\n")
    _write(sys_root / EMMC / "block" / "mmcblk1" / "removable", "0\n")
    _link(sys_root / EMMC / "block" / "mmcblk1" / "device", sys_root / EMMC)
    _block(sys_root, f"{EMMC}/block/mmcblk1/mmcblk1p1", "179:9", partition=1)

    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_bytes(MOUNTINFO)
    return {"mountinfo": mountinfo, "sys": sys_root, "dev": dev, "udev": udev}


def _source(machine: dict[str, Path], **kw) -> LinuxVolumes:
    return LinuxVolumes(
        mountinfo=str(machine["mountinfo"]),
        sys_root=str(machine["sys"]),
        dev_root=str(machine["dev"]),
        udev_data=str(machine["udev"]),
        **kw,
    )


@pytest.fixture
def fake_volumes(machine) -> tuple[LinuxVolumes, dict[str, Volume]]:
    src = _source(machine)
    return src, {v.mount: v for v in src.volumes()}


# -- parsing --------------------------------------------------------------------------------


def test_mountinfo_line_fields_optional_fields_and_escapes():
    e = parse_mountinfo_line(
        rb"36 35 98:0 /mnt1 /mnt2\040x rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue"  # noqa: E501
    )
    assert (e.mount_id, e.parent_id, e.major, e.minor) == (36, 35, 98, 0)
    assert (e.root, e.mount, e.options) == ("/mnt1", "/mnt2 x", "rw,noatime")
    assert e.optional == ("master:1", "shared:7")
    assert (e.fstype, e.source, e.super_options) == ("ext3", "/dev/root", "rw,errors=continue")
    assert e.majmin == "98:0"

    e = parse_mountinfo_line(rb"1 2 0:5 / /a\011b\012c\134d\377 rw - tmpfs my\040src rw")
    assert e.mount == "/a\tb\nc\\d" + os.fsdecode(b"\xff")  # non-UTF-8 bytes survive
    assert e.source == "my src"
    assert os.fsencode(e.mount).endswith(b"\xff")


def test_malformed_lines_become_warnings_not_errors():
    entries, warnings = parse_mountinfo(MOUNTINFO)
    assert len(entries) == 29
    assert len(warnings) == 5
    assert any("this is not a mountinfo line" in w for w in warnings)
    assert any("/broken" in w and "source" in w for w in warnings)
    assert any("/no-separator" in w for w in warnings)
    assert any("/bad-id" in w for w in warnings)
    assert any("/bad-devno" in w for w in warnings)


def test_udev_escapes():
    assert unescape_udev("STICK\\x20ONE") == "STICK ONE"
    assert unescape_udev("a\\x2fb") == "a/b"
    assert unescape_udev("caf\\xc3\\xa9") == "café"
    assert unescape_udev("plain") == "plain"


# -- Linux classification -------------------------------------------------------------------


def test_pseudo_file_systems_and_kernel_trees_are_not_volumes(fake_volumes):
    src, vols = fake_volumes
    gone = ["/proc", "/sys", "/sys/fs/cgroup", "/sys/fs/cgroup/legacy", "/dev", "/dev/pts"]
    gone += ["/snap/core22/1234", "/var/lib/docker/overlay2/0abc/merged"]
    for mount in [*gone, "/proc/sys/fs/binfmt_misc"]:
        assert mount not in vols, mount
    assert not {v.fstype for v in vols.values()} & PSEUDO_FSTYPES
    assert vols["/dev/shm"].kind == "fixed"  # a writable tmpfs is somewhere files can be
    assert len(src.warnings) == 5


def test_root_nvme_is_fixed_with_label_and_controller_serial(fake_volumes):
    _, vols = fake_volumes
    root = vols["/"]
    assert (root.kind, root.fstype, root.device) == ("fixed", "ext4", "/dev/nvme0n1p2")
    assert root.label == "ROOT DISK"  # from /dev/disk/by-label, escape decoded
    assert root.serial == "S4EWNX0R123456"


def test_btrfs_anonymous_device_resolved_through_its_source(fake_volumes):
    _, vols = fake_volumes
    home = vols["/home"]
    assert (home.kind, home.fstype, home.label, home.serial) == (
        "fixed",
        "btrfs",
        "home",
        "S4EWNX0R123456",
    )


def test_usb_stick_removable_with_udev_label_and_serial(fake_volumes):
    _, vols = fake_volumes
    stick = vols["/media/alice/STICK ONE"]  # \040 unescaped
    assert stick == Volume(
        mount="/media/alice/STICK ONE",
        kind="removable",
        fstype="vfat",
        device="/dev/sdb1",
        label="STICK ONE",
        serial="4C530001230101112345",
    )
    assert stick.to_dict() == {
        "kind": "removable",
        "label": "STICK ONE",
        "serial": "4C530001230101112345",
        "mount": "/media/alice/STICK ONE",
    }


def test_usb_path_alone_makes_a_stick_removable_and_hub_serials_are_not_used(fake_volumes):
    _, vols = fake_volumes
    plain = vols["/media/alice/NONAME"]
    assert plain.kind == "removable"  # removable=0, but on a USB bus
    assert plain.label is None
    assert plain.serial == "ABCD-1234"  # the FAT serial, not the root hub's "0000:00:14.0"


def test_luks_on_a_usb_stick_is_removable_through_dm_slaves(fake_volumes):
    _, vols = fake_volumes
    secret = vols["/media/alice/SECRET"]
    assert (secret.kind, secret.device) == ("removable", "/dev/mapper/luks-abc")
    assert secret.serial == "AA00000000012345"  # the USB device's serial, via sdc1


def test_network_shares(fake_volumes):
    _, vols = fake_volumes
    assert vols["/mnt/nfs"] == Volume(
        "/mnt/nfs", "network", "nfs4", "fileserver:/export/home", "fileserver:/export/home"
    )
    cifs = vols["/mnt/finance share"]
    assert (cifs.kind, cifs.device, cifs.label, cifs.serial) == (
        "network",
        "//fs01/finance share",
        "//fs01/finance share",
        None,
    )
    assert vols["/home/alice/remote"].kind == "network"  # unknown FUSE, remote-looking source
    assert vols["/home/alice/vault"].kind == "unknown"  # unknown FUSE, local source


def test_optical_sd_and_emmc(fake_volumes):
    _, vols = fake_volumes
    dvd = vols["/media/alice/HOLIDAY_DVD"]
    assert (dvd.kind, dvd.label) == ("optical", "HOLIDAY_DVD")
    assert dvd.serial == "2023-07-01-10-00-00-00"  # the disc, not the drive
    sd = vols["/media/alice/SDCARD"]
    assert (sd.kind, sd.serial) == ("removable", "0x1234abcd")
    assert vols["/var/lib/data"].kind == "fixed"  # eMMC


def test_tmpfs_escapes_overmounts(fake_volumes):
    _, vols = fake_volumes
    odd = "/mnt/odd\ttab\\back" + os.fsdecode(b"\xff")
    assert vols[odd].kind == "fixed" and vols[odd].device == "odd"
    assert vols["/mnt/over"].device == "top"  # the mount on top wins
    assert vols["/media/alice/RAMSTICK"].kind == "fixed"
    assert vols["/run/user/1000"].kind == "fixed"


def test_removable_mount_patterns(machine):
    vols = {v.mount: v for v in _source(machine, removable_mounts=["/media/*"]).volumes()}
    assert vols["/media/alice/RAMSTICK"].kind == "removable"
    assert vols["/media/alice/HOLIDAY_DVD"].kind == "optical"  # the device says more
    assert vols["/mnt/a"].kind == "fixed"


def test_custom_fstype_sets(machine):
    src = _source(machine, network_fstypes=frozenset({"vfat"}), ignore_fstypes=frozenset())
    vols = {v.mount: v for v in src.volumes()}
    assert vols["/media/alice/STICK ONE"].kind == "network"
    assert vols["/mnt/nfs"].kind == "unknown"
    assert "/dev/pts" in vols
    assert "/sys/fs/cgroup" not in vols  # below /sys whatever its type


def test_missing_trees_give_none_not_errors(machine, tmp_path):
    src = LinuxVolumes(
        mountinfo=str(machine["mountinfo"]),
        sys_root=str(tmp_path / "nosys"),
        dev_root=str(tmp_path / "nodev"),
        udev_data=str(tmp_path / "noudev"),
    )
    vols = {v.mount: v for v in src.volumes()}
    assert vols["/"] == Volume("/", "fixed", "ext4", "/dev/nvme0n1p2")
    assert vols["/media/alice/HOLIDAY_DVD"].kind == "optical"  # from the name alone
    assert vols["/media/alice/SDCARD"].kind == "removable"
    assert vols["/home"].kind == "fixed"


def test_unreadable_mountinfo(tmp_path):
    src = LinuxVolumes(mountinfo=str(tmp_path / "missing"))
    assert src.volumes() == []
    assert "cannot read" in src.warnings[0]


def test_real_mountinfo_parses_cleanly():
    if not os.path.exists("/proc/self/mountinfo"):
        pytest.skip("no /proc/self/mountinfo on this system")
    src = LinuxVolumes()
    vols = src.volumes()
    assert src.warnings == []
    assert "/" in {v.mount for v in vols}
    assert not {v.fstype for v in vols if v.mount != "/"} & PSEUDO_FSTYPES
    assert all(not v.mount.startswith(("/proc/", "/sys/")) for v in vols)
    assert isinstance(default_source(), LinuxVolumes)


# -- the table -------------------------------------------------------------------------------


class FakeSource:
    def __init__(self, *volumes: Volume):
        self.list = list(volumes)

    def volumes(self) -> list[Volume]:
        return list(self.list)


ROOT = Volume("/", "fixed", "ext4", "/dev/sda2")
MEDIA_A = Volume("/media/a", "removable", "vfat", "/dev/sdb1", "A", "1111-1111")
MEDIA_AB = Volume("/media/ab", "removable", "vfat", "/dev/sdc1", "AB", "2222-2222")
SHARE = Volume("/mnt/share", "network", "cifs", "//srv/share", "//srv/share")


def test_volume_for_longest_prefix_component_aware():
    table = VolumeTable(FakeSource(ROOT, MEDIA_A, MEDIA_AB, SHARE))
    table.refresh()
    assert table.volume_for("/media/ab/photo.jpg") == MEDIA_AB
    assert table.volume_for("/media/a/photo.jpg") == MEDIA_A
    assert table.volume_for("/media/a") == MEDIA_A
    assert table.volume_for("/media/a/") == MEDIA_A
    assert table.volume_for("/media/abc/x") == ROOT
    assert table.volume_for("/media/a/../ab/x") == MEDIA_AB
    assert table.volume_for("/etc/passwd") == ROOT
    assert table.volume_for("/mnt/share/deep/er/file") == SHARE

    no_root = VolumeTable(FakeSource(MEDIA_A))
    assert no_root.volume_for("/media/a/x") is None  # not refreshed yet
    no_root.refresh()
    assert no_root.volume_for("/media/a/x") == MEDIA_A
    assert no_root.volume_for("/etc/passwd") is None


def test_refresh_reports_added_and_removed():
    src = FakeSource(ROOT, MEDIA_A)
    table = VolumeTable(src)
    assert table.refresh() == ([ROOT, MEDIA_A], [])
    assert table.refresh() == ([], [])

    src.list = [ROOT, SHARE]
    assert table.refresh() == ([SHARE], [MEDIA_A])
    assert table.current() == [ROOT, SHARE]

    # a different stick at the same mount point: one went, one came
    other = Volume("/mnt/share", "removable", "exfat", "/dev/sdd1")
    src.list = [ROOT, other]
    assert table.refresh() == ([other], [SHARE])

    # same mount and device, new label: not a change, but the table has the new details
    relabelled = Volume("/mnt/share", "removable", "exfat", "/dev/sdd1", "NEW")
    src.list = [ROOT, relabelled]
    assert table.refresh() == ([], [])
    assert table.volume_for("/mnt/share/x").label == "NEW"


def test_refresh_against_the_fake_machine(machine):
    table = VolumeTable(_source(machine))
    added, removed = table.refresh()
    assert removed == [] and "/media/alice/STICK ONE" in {v.mount for v in added}
    assert table.volume_for("/media/alice/STICK ONE/DCIM/1.jpg").serial == "4C530001230101112345"
    assert table.volume_for("/media/alice/STICK ONE2/x").mount == "/"

    lines = [ln for ln in MOUNTINFO.split(b"\n") if b"STICK\\040ONE" not in ln]
    lines.append(rb"90 27 0:90 / /media/alice/NEW rw - tmpfs new rw")
    machine["mountinfo"].write_bytes(b"\n".join(lines))
    added, removed = table.refresh()
    assert [v.mount for v in added] == ["/media/alice/NEW"]
    assert [v.mount for v in removed] == ["/media/alice/STICK ONE"]


def test_to_dict_clips_to_the_servers_limits():
    v = Volume("/m" * 3000, "removable", "vfat", "/dev/sdb1", "L" * 300, "S" * 300)
    d = v.to_dict()
    assert (len(d["mount"]), len(d["label"]), len(d["serial"])) == (4096, 255, 255)
    assert Volume("/x", "fixed", "ext4", "/dev/x", "", "").to_dict()["label"] is None


# -- macOS -----------------------------------------------------------------------------------

MAC_MOUNT = """\
/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
devfs on /dev (devfs, local, nobrowse)
/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect)
map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)
/dev/disk4s1 on /Volumes/STICK ONE (msdos, local, nodev, nosuid, noowners)
//alice@fs01._smb._tcp.local/finance on /Volumes/finance (smbfs, nodev, nosuid, mounted by alice)
/dev/disk5 on /Volumes/HOLIDAY (cd9660, local, nodev, nosuid, read-only, noowners)
/dev/disk0s3 on /Volumes/BOOTCAMP (ntfs, local, read-only, noowners)
/dev/disk6s1 on /Volumes/My (old) disk (exfat, local, nodev, nosuid, noowners)
garbage
"""

STICK_UUID = "C0FFEE00-1111-2222-3333-444455556666"
DISKUTIL = {
    "/dev/disk4s1": {
        "VolumeName": "STICK ONE",
        "VolumeUUID": STICK_UUID,
        "Internal": False,
        "Ejectable": True,
        "BusProtocol": "USB",
    },
    "/dev/disk0s3": {"VolumeName": "BOOTCAMP", "Internal": True, "RemovableMedia": False},
    "/dev/disk5": {"VolumeName": "HOLIDAY", "VolumeUUID": "D15C0000-0000-0000-0000-00000000001"},
}


def test_mac_volumes():
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str | None:
        calls.append(argv)
        if argv[0].endswith("mount"):
            return MAC_MOUNT
        info = DISKUTIL.get(argv[-1])
        return plistlib.dumps(info).decode() if info else None

    src = MacVolumes(run=run)
    vols = {v.mount: v for v in src.volumes()}
    assert set(vols) == {
        "/",
        "/System/Volumes/Data",
        "/Volumes/STICK ONE",
        "/Volumes/finance",
        "/Volumes/HOLIDAY",
        "/Volumes/BOOTCAMP",
        "/Volumes/My (old) disk",
    }
    assert vols["/"].kind == vols["/System/Volumes/Data"].kind == "fixed"
    stick = vols["/Volumes/STICK ONE"]
    assert (stick.kind, stick.fstype, stick.label, stick.serial) == (
        "removable",
        "msdos",
        "STICK ONE",
        STICK_UUID,
    )
    share = vols["/Volumes/finance"]
    assert (share.kind, share.label) == ("network", "//alice@fs01._smb._tcp.local/finance")
    assert vols["/Volumes/HOLIDAY"].kind == "optical"
    assert vols["/Volumes/BOOTCAMP"].kind == "fixed"  # internal disk
    odd = vols["/Volumes/My (old) disk"]  # diskutil said nothing: removable, label from name
    assert (odd.kind, odd.fstype, odd.label) == ("removable", "exfat", "My (old) disk")
    assert src.warnings == ["mount line skipped: garbage"]

    diskutil_calls = len([c for c in calls if "diskutil" in c[0]])
    src.volumes()
    assert len([c for c in calls if "diskutil" in c[0]]) == diskutil_calls  # cached


def test_mac_volumes_without_mount():
    src = MacVolumes(run=lambda argv: None)
    assert src.volumes() == [] and src.warnings


# -- Windows ---------------------------------------------------------------------------------


def _descriptor(bus: int, serial: bytes) -> bytes:
    size = 36 + len(serial) + 1
    header = struct.pack("<IIBB??IIIIII", 1, size, 0, 0, False, False, 0, 0, 0, 36, bus, 0)
    return header + serial + b"\0"


class FakeKernel32:
    """Just enough of kernel32 for WindowsVolumes, writing through ctypes out-parameters."""

    DRIVES = {
        "C:\\": (DRIVE_FIXED, ("OS", 0x1A2B3C4D, "NTFS"), (17, b"S4EWNX0R123456")),
        "D:\\": (DRIVE_CDROM, ("HOLIDAY", 0x0BADF00D, "UDF"), None),
        "E:\\": (DRIVE_REMOVABLE, ("STICK", 0xA1B2C3D4, "FAT32"), (7, b" 4C530001230101112345 ")),
        "F:\\": (DRIVE_FIXED, ("BACKUP", 0x00C0FFEE, "exFAT"), (7, b"")),
        "G:\\": (DRIVE_REMOVABLE, None, None),  # card reader, no card
        "R:\\": (DRIVE_RAMDISK, ("RAM", 0x1, "NTFS"), None),
        "X:\\": (DRIVE_NO_ROOT_DIR, None, None),
        "Z:\\": (DRIVE_REMOTE, None, None),
    }

    def __init__(self):
        self.error_modes: list[int] = []
        self.handles: dict[int, str] = {}
        self.closed: list[int] = []

    def GetLogicalDriveStringsW(self, n, buf):
        s = "".join(d + "\0" for d in self.DRIVES) + "\0"
        buf[: len(s)] = s
        return len(s) - 1

    def SetThreadErrorMode(self, mode, old):
        self.error_modes.append(mode)
        return 1

    def GetDriveTypeW(self, root):
        return self.DRIVES[root][0]

    def GetVolumeInformationW(self, root, name, n, serial, _mcl, _flags, fs, fs_n):
        info = self.DRIVES[root][1]
        if info is None:
            return 0
        name.value, serial.contents.value, fs.value = info
        return 1

    def GetVolumeNameForVolumeMountPointW(self, root, buf, n):
        buf.value = f"\\\\?\\Volume{{0000000{root[0]}-0000-0000-0000-000000000000}}\\"
        return 1

    def CreateFileW(self, path, *args):
        handle = 100 + len(self.handles)
        self.handles[handle] = path[-2:] + "\\"
        return handle

    def DeviceIoControl(self, handle, code, query, qn, buf, n, returned, _ov):
        storage = self.DRIVES[self.handles[handle.value]][2]
        if storage is None:
            return 0
        raw = _descriptor(*storage)
        ctypes.memmove(buf, raw, len(raw))
        returned.contents.value = len(raw)
        return 1

    def CloseHandle(self, handle):
        self.closed.append(handle.value)
        return 1


class FakeMpr:
    def WNetGetConnectionW(self, local, buf, size):
        buf.value = "\\\\fs01\\finance"
        return 0


def test_windows_volumes():
    k = FakeKernel32()
    src = WindowsVolumes(kernel32=k, mpr=FakeMpr())
    vols = {v.mount: v for v in src.volumes()}
    assert set(vols) == {"C:\\", "D:\\", "E:\\", "F:\\", "R:\\", "Z:\\"}  # no empty reader
    guid = "\\\\?\\Volume{0000000C-0000-0000-0000-000000000000}\\"
    assert vols["C:\\"] == Volume("C:\\", "fixed", "NTFS", guid, "OS", "S4EWNX0R123456")
    assert (vols["D:\\"].kind, vols["D:\\"].serial) == ("optical", "0BAD-F00D")
    e = vols["E:\\"]
    assert (e.kind, e.label, e.serial) == ("removable", "STICK", "4C530001230101112345")
    f = vols["F:\\"]  # a USB hard disk calls itself fixed; the bus says otherwise
    assert (f.kind, f.serial) == ("removable", "00C0-FFEE")
    assert vols["R:\\"].kind == "fixed"
    z = vols["Z:\\"]
    assert (z.kind, z.device, z.label, z.serial) == (
        "network",
        "\\\\fs01\\finance",
        "\\\\fs01\\finance",
        None,
    )
    assert k.error_modes[0] & 1  # SEM_FAILCRITICALERRORS while probing
    assert sorted(k.closed) == sorted(k.handles)
    assert src.warnings == []


def test_windows_helpers():
    assert format_volume_serial(0x1234ABCD) == "1234-ABCD"
    assert format_volume_serial(0xF) == "0000-000F"
    assert parse_storage_descriptor(_descriptor(7, b"ABC ")) == (7, "ABC")
    assert parse_storage_descriptor(b"short") == (None, None)
    assert windows_kind(DRIVE_FIXED, 7, False) == "removable"
    assert windows_kind(DRIVE_FIXED, 17, False) == "fixed"
    assert windows_kind(DRIVE_FIXED, 17, True) == "removable"
    assert windows_kind(DRIVE_REMOTE, None, True) == "network"
    assert windows_kind(0, None, False) == "unknown"


def test_windows_source_imports_and_fails_softly_off_windows():
    if sys.platform == "win32":
        pytest.skip("this checks the behaviour off Windows")
    src = WindowsVolumes()
    assert src.volumes() == [] and src.warnings


# -- the monitor -----------------------------------------------------------------------------


class Recorder:
    """Collects on_change calls; ``event`` is set whenever ``want`` says a call matches."""

    def __init__(self, want=lambda added, removed: True):
        self.calls: list[tuple[list[Volume], list[Volume]]] = []
        self.want = want
        self.event = threading.Event()

    def __call__(self, added: list[Volume], removed: list[Volume]) -> None:
        self.calls.append((added, removed))
        if self.want(added, removed):
            self.event.set()


def test_monitor_interval_fallback_reports_changes_and_stops_promptly(tmp_path):
    src = FakeSource(ROOT)
    table = VolumeTable(src)
    rec = Recorder()
    mon = MountMonitor(table, rec, interval=0.05, mountinfo=str(tmp_path / "no-such-file"))
    mon.start()
    try:
        assert mon.mode == "interval"
        assert table.refreshed and rec.calls == []  # what was there at start is no news
        src.list = [ROOT, MEDIA_A]
        assert rec.event.wait(2), "no change reported"
        assert rec.calls == [([MEDIA_A], [])]
        rec.event.clear()
        src.list = [ROOT]
        assert rec.event.wait(2)
        assert rec.calls[-1] == ([], [MEDIA_A])
    finally:
        started = time.monotonic()
        mon.stop()
        assert time.monotonic() - started < 1
    assert not mon._thread.is_alive()


def test_monitor_survives_a_failing_handler(tmp_path):
    src = FakeSource(ROOT)
    done = threading.Event()
    calls = []

    def handler(added, removed):
        calls.append(added)
        if len(calls) == 1:
            raise RuntimeError("handler bug")
        done.set()

    mon = MountMonitor(VolumeTable(src), handler, interval=0.02, mountinfo=str(tmp_path / "x"))
    mon.start()
    try:
        src.list = [ROOT, MEDIA_A]
        deadline = time.monotonic() + 2
        while len(calls) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        src.list = [ROOT, MEDIA_A, SHARE]
        assert done.wait(2), "the monitor died with its handler"
    finally:
        mon.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mountinfo polling is Linux")
def test_monitor_polls_mountinfo_and_stops_promptly():
    mon = MountMonitor(VolumeTable(FakeSource(ROOT)), Recorder(), interval=30)
    mon.start()
    assert mon.mode == "poll"
    time.sleep(0.05)  # let it block in poll()
    started = time.monotonic()
    mon.stop()
    assert time.monotonic() - started < 1
    assert not mon._thread.is_alive()
    assert mon._wake_w is None  # its file descriptors are closed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux mount(8)")
def test_real_tmpfs_mount_is_seen_as_removable(tmp_path):
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount not installed")
    media = tmp_path.resolve() / "media"
    stick = media / "STICK"
    stick.mkdir(parents=True)
    table = VolumeTable(LinuxVolumes(removable_mounts=[str(media / "*")]))
    table.refresh()

    def ours(vols: list[Volume]) -> list[Volume]:
        return [v for v in vols if v.mount == str(stick)]

    came = Recorder(lambda added, removed: bool(ours(added)))
    went = threading.Event()

    def on_change(added: list[Volume], removed: list[Volume]) -> None:
        came(added, removed)
        if ours(removed):
            went.set()

    # a long interval: only the kernel's poll notification can be fast enough
    mon = MountMonitor(table, on_change, interval=30)
    mounted = False
    try:
        mon.start()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "hwtest", str(stick)],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            pytest.skip(f"mounting not permitted here: {done.stderr.strip()}")
        mounted = True
        assert came.event.wait(2), f"mount not reported within 2 s (monitor mode {mon.mode})"
        [vol] = [v for a, _ in came.calls for v in ours(a)]
        assert (vol.kind, vol.fstype, vol.device) == ("removable", "tmpfs", "hwtest")
        assert table.volume_for(str(stick / "DCIM" / "1.jpg")) == vol

        subprocess.run(["umount", str(stick)], check=True, timeout=10)
        mounted = False
        assert went.wait(2), "unmount not reported within 2 s"
        assert table.volume_for(str(stick / "DCIM" / "1.jpg")).mount != str(stick)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(stick)], capture_output=True, timeout=10)
        mon.stop()
