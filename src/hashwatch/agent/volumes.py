"""Mounted volumes: which ones exist, what kind each is, and which one a path lives on.

Why: the agent scans removable media and network shares as soon as they are mounted, and
every incident records the volume its file was found on (kind, label, serial), because "on
a USB stick with serial X" is what the people acting on an incident need to know.

Sources
-------
``LinuxVolumes`` reads ``/proc/self/mountinfo`` plus sysfs and udev's database,
``MacVolumes`` parses ``mount`` (and asks ``diskutil`` once per new volume),
``WindowsVolumes`` asks kernel32 through ctypes. All three import on any platform;
``default_source()`` picks one by ``sys.platform`` (elsewhere: no volumes, kind "unknown").

Linux rules
-----------
Parsing (``proc(5)``, kernel ``Documentation/filesystems/proc.rst``): each line is
``ID PARENT MAJ:MIN ROOT MOUNT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS``. The
optional fields run up to a lone ``-``. The kernel escapes space, tab, newline and
backslash in paths as ``\\040``, ``\\011``, ``\\012``, ``\\134``; they are unescaped
(bytes that are not UTF-8 survive through ``os.fsdecode``). A line that does not parse is
skipped and described in ``warnings``. Where several mounts share a mount point only the
last one (the one on top, which is what paths resolve to) counts.

What is not a volume: file systems in ``ignore_fstypes`` (default ``PSEUDO_FSTYPES``:
kernel interfaces such as proc, sysfs, cgroup, devpts, ..., plus squashfs (snaps),
snapfuse/lxcfs/document-portal FUSE mounts and overlay/aufs, which away from "/" are
container-runtime layers that duplicate files stored elsewhere), and anything mounted
below ``/proc`` or ``/sys``. The mount at "/" is always kept whatever its type (an
overlay or squashfs root of a container or live system is where every path falls back).

Kind, first rule that applies:

1. ``network``: fstype in ``network_fstypes`` (NFS, SMB/CIFS, sshfs, rclone, WebDAV,
   cluster file systems, host-shared 9p/virtiofs/vboxsf, ...), or a FUSE file system
   whose source looks remote (``//host/share`` or ``host:path``). Label = the source
   (the share), serial None.
2. ``optical``: the block device is ``sr*`` (SCSI CD-ROM major 11).
3. ``removable``: the mount point matches a ``removable_mounts`` fnmatch pattern (``*``
   also matches ``/``). This is how a tmpfs can stand in for a stick in tests.
4. ``removable``: the block device is removable: the whole disk's sysfs ``removable``
   attribute is 1; or its sysfs path runs through a USB bus (``/usb``); or a parent
   device says ``removable`` (Thunderbolt/PCIe hot-plug); or it is an SD card
   (``mmcblk*`` whose ``device/type`` is not ``MMC``: eMMC is soldered-on internal
   storage); or a device-mapper/md device (LUKS, LVM, RAID) sits on such a device
   (followed through ``slaves/``).
5. ``fixed``: any other block device (including loop devices), and device-less local
   file systems (tmpfs, ramfs, zfs, btrfs subvolumes whose device cannot be resolved, ...).
6. ``unknown``: anything else (e.g. a FUSE file system of unknown origin).

The block device is ``{sys_root}/dev/block/MAJ:MIN`` from mountinfo; when that is an
anonymous device (major 0: btrfs, fuseblk on some kernels) the source ``/dev/...`` is
resolved under ``dev_root`` and looked up in ``{sys_root}/class/block/NAME/dev``.

Label: ``{udev_data}/bMAJ:MIN`` (``ID_FS_LABEL_ENC``, else ``ID_FS_LABEL``), else the
``{dev_root}/disk/by-label`` link pointing at the device (``\\x20``-style escapes
decoded). Serial: the hardware serial (udev ``ID_SERIAL_SHORT``, else the disk's
``device/serial`` in sysfs, else the ``serial`` of the USB device above it, else the same
for the device under a dm/md device), else the file-system UUID (udev ``ID_FS_UUID`` or
``{dev_root}/disk/by-uuid``; FAT gives "1234-ABCD"). Optical discs prefer the file-system
UUID: the drive's serial says nothing about which disc was inserted.

Nothing here stats a mount point or reads below one: a stat can hang on a dead NFS server
or trigger an automount. Unreadable sysfs/udev files just leave a field None.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import plistlib
import re
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger("hashwatch.agent")

VolumeKind = Literal["removable", "network", "fixed", "optical", "unknown"]

#: Not volumes of their own (see the module docstring); never ignored when mounted at "/".
PSEUDO_FSTYPES: frozenset[str] = frozenset(
    {
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "devpts",
        "devtmpfs",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "hugetlbfs",
        "autofs",
        "binfmt_misc",
        "rpc_pipefs",
        "nfsd",
        "nsfs",
        "efivarfs",
        "selinuxfs",
        "smackfs",
        "apparmorfs",
        "xenfs",
        "resctrl",
        "functionfs",
        "binder",
        "squashfs",
        "overlay",
        "aufs",
        "fuse.snapfuse",
        "fuse.squashfuse",
        "fuse.lxcfs",
        "fuse.portal",
    }
)

#: File systems whose files live on another machine (or the VM host).
NETWORK_FSTYPES: frozenset[str] = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "ncp",
        "afs",
        "coda",
        "ceph",
        "fuse.ceph-fuse",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "orangefs",
        "pvfs2",
        "9p",
        "virtiofs",
        "vboxsf",
        "vmhgfs",
        "fuse.vmhgfs-fuse",
        "sshfs",
        "fuse.sshfs",
        "rclone",
        "fuse.rclone",
        "davfs",
        "davfs2",
        "fuse.davfs2",
        "s3fs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.goofys",
        "fuse.mount-s3",
        "fuse.blobfuse",
        "fuse.blobfuse2",
        "fuse.curlftpfs",
        "fuse.juicefs",
        "fuse.gvfsd-fuse",
        "afpfs",
        "webdav",
    }
)

#: Local file systems that count as "fixed" even when no block device can be resolved.
LOCAL_FSTYPES: frozenset[str] = frozenset(
    {
        "tmpfs",
        "ramfs",
        "rootfs",
        "overlay",
        "aufs",
        "squashfs",
        "erofs",
        "zfs",
        "btrfs",
        "bcachefs",
        "ext2",
        "ext3",
        "ext4",
        "xfs",
        "f2fs",
        "jfs",
        "reiserfs",
        "nilfs2",
        "vfat",
        "msdos",
        "exfat",
        "ntfs",
        "ntfs3",
        "fuseblk",
        "hfs",
        "hfsplus",
        "apfs",
    }
)

_KERNEL_TREES = ("/proc", "/sys")
_LABEL_MAX = 255  # the server's limits for the incident "volume" object
_MOUNT_MAX = 4096


@dataclass(frozen=True, slots=True)
class Volume:
    """One mounted file system as the agent reports it."""

    mount: str  # mount point
    kind: VolumeKind
    fstype: str
    device: str  # mount source: /dev/sdb1, //srv/share, server:/export, \\?\Volume{...}\
    label: str | None = None
    #: hardware serial of the device if known, else the file-system UUID / volume serial
    serial: str | None = None

    def to_dict(self) -> dict:
        """The server's incident ``volume`` object, clipped to the lengths it accepts."""
        return {
            "kind": self.kind,
            "label": _clip(self.label, _LABEL_MAX),
            "serial": _clip(self.serial, _LABEL_MAX),
            "mount": _clip(self.mount, _MOUNT_MAX),
        }


def _clip(value: str | None, n: int) -> str | None:
    return value[:n] if value else None


class VolumeSource(Protocol):
    def volumes(self) -> list[Volume]:
        """Real, user-relevant file systems only (no proc/sysfs/cgroup/devpts/...)."""
        ...


def _matches_any(mount: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(mount, p) for p in patterns)


def _under(path: str, top: str) -> bool:
    """Is ``path`` ``top`` or inside it? Component-aware: /media/ab is not in /media/a."""
    if path == top:
        return True
    prefix = top if top.endswith(os.sep) else top + os.sep
    return path.startswith(prefix)


# -- mountinfo ------------------------------------------------------------------------------

_OCTAL = re.compile(rb"\\([0-7]{3})")
_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def unescape_mountinfo(raw: bytes) -> str:
    """Undo the kernel's octal escapes (``\\040`` space, ``\\011``, ``\\012``, ``\\134``)."""

    def byte(m: re.Match[bytes]) -> bytes:
        value = int(m.group(1), 8)
        return bytes([value]) if value < 256 else m.group(0)

    return os.fsdecode(_OCTAL.sub(byte, raw))


def unescape_udev(name: str) -> str:
    """Decode udev's ``\\xNN`` escapes (by-label link names, ``ID_FS_LABEL_ENC``)."""
    raw = name.encode("utf-8", "surrogateescape")
    return _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One parsed line of /proc/self/mountinfo."""

    mount_id: int
    parent_id: int
    major: int
    minor: int
    root: str
    mount: str
    options: str
    optional: tuple[str, ...]
    fstype: str
    source: str
    super_options: str

    @property
    def majmin(self) -> str:
        return f"{self.major}:{self.minor}"


def parse_mountinfo_line(line: bytes) -> MountEntry:
    """Parse one line; ValueError when it is not a mountinfo line."""
    fields = line.split(b" ")  # the kernel separates with single spaces, escapes the rest
    try:
        sep = fields.index(b"-", 6)
    except ValueError:
        raise ValueError("no ' - ' separator after the sixth field") from None
    after = fields[sep + 1 :]
    if len(after) < 2 or not after[0]:
        raise ValueError("missing file-system type or source after ' - '")
    major, colon, minor = fields[2].partition(b":")
    if not colon:
        raise ValueError(f"bad major:minor {fields[2]!r}")
    mount = unescape_mountinfo(fields[4])
    if not mount.startswith("/"):
        raise ValueError(f"mount point is not absolute: {mount!r}")
    return MountEntry(
        mount_id=int(fields[0]),
        parent_id=int(fields[1]),
        major=int(major),
        minor=int(minor),
        root=unescape_mountinfo(fields[3]),
        mount=mount,
        options=fields[5].decode("ascii", "replace"),
        optional=tuple(f.decode("ascii", "replace") for f in fields[6:sep]),
        fstype=unescape_mountinfo(after[0]),
        source=unescape_mountinfo(after[1]),
        super_options=unescape_mountinfo(b" ".join(after[2:])),
    )


def parse_mountinfo(data: bytes) -> tuple[list[MountEntry], list[str]]:
    """All parseable lines, and a warning for each line that is not."""
    entries: list[MountEntry] = []
    warnings: list[str] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            entries.append(parse_mountinfo_line(line))
        except ValueError as e:
            text = line[:200].decode("utf-8", "replace")
            warnings.append(f"mountinfo line {number} skipped ({e}): {text}")
    return entries, warnings


# -- Linux ----------------------------------------------------------------------------------


def _read(path: str, limit: int = 4096) -> str | None:
    """A small sysfs/udev file's stripped text, or None when missing, unreadable or empty."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(limit).strip()
    except (OSError, ValueError):
        return None
    return text or None


def _read_udev(path: str) -> dict[str, str]:
    """The ``E:KEY=VALUE`` properties of a udev database entry."""
    props: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("E:") and "=" in line:
                    key, _, value = line[2:].rstrip("\n").partition("=")
                    props[key] = value
    except (OSError, ValueError):
        pass
    return props


@dataclass(frozen=True, slots=True)
class _Block:
    """A block device as far as it could be resolved."""

    majmin: str | None  # "8:17"
    name: str | None  # kernel name: "sdb1", "dm-0"
    path: str | None  # resolved sysfs directory of the device
    disk: str | None  # sysfs directory of its whole disk (itself when not a partition)


class _DiskLinks:
    """``{dev_root}/disk/by-label`` and ``by-uuid``, read at most once per ``volumes()``."""

    def __init__(self, dev_root: str):
        self.dev_root = dev_root
        self._maps: dict[str, dict[str, str]] = {}

    def lookup(self, kind: str, name: str | None) -> str | None:
        if not name:
            return None
        if kind not in self._maps:
            self._maps[kind] = self._scan(os.path.join(self.dev_root, "disk", kind))
        return self._maps[kind].get(name)

    @staticmethod
    def _scan(directory: str) -> dict[str, str]:
        found: dict[str, str] = {}
        try:
            entries = os.listdir(directory)
        except OSError:
            return found
        for entry in sorted(entries):
            try:
                target = os.readlink(os.path.join(directory, entry))
            except OSError:
                continue
            device = os.path.basename(os.path.normpath(os.path.join(directory, target)))
            found.setdefault(device, unescape_udev(entry))
        return found


class LinuxVolumes:
    """Volumes from ``/proc/self/mountinfo``, classified through sysfs and udev.

    Every path is a parameter so tests can hand it fake trees. ``warnings`` describes what
    the last ``volumes()`` call skipped or could not read.
    """

    def __init__(
        self,
        mountinfo: str = "/proc/self/mountinfo",
        sys_root: str = "/sys",
        dev_root: str = "/dev",
        udev_data: str = "/run/udev/data",
        removable_mounts: Sequence[str] = (),
        network_fstypes: frozenset[str] = NETWORK_FSTYPES,
        ignore_fstypes: frozenset[str] = PSEUDO_FSTYPES,
    ):
        self.mountinfo = mountinfo
        self.sys_root = sys_root
        self.dev_root = dev_root
        self.udev_data = udev_data
        self.removable_mounts = tuple(removable_mounts)
        self.network_fstypes = network_fstypes
        self.ignore_fstypes = ignore_fstypes
        self.warnings: list[str] = []

    # -- listing ----------------------------------------------------------------------

    def volumes(self) -> list[Volume]:
        warnings: list[str] = []
        try:
            with open(self.mountinfo, "rb") as f:
                data = f.read()
        except OSError as e:
            self.warnings = [f"cannot read {self.mountinfo}: {e}"]
            return []
        entries, parse_warnings = parse_mountinfo(data)
        warnings.extend(parse_warnings)
        links = _DiskLinks(self.dev_root)
        result: list[Volume] = []
        for entry in self._visible(entries):
            if not self._relevant(entry):
                continue
            try:
                result.append(self.classify(entry, links))
            except Exception as e:  # one odd mount must not cost the agent all volumes
                warnings.append(f"could not classify {entry.mount}: {e!r}")
                result.append(Volume(entry.mount, "unknown", entry.fstype, entry.source))
        self.warnings = warnings
        return result

    @staticmethod
    def _visible(entries: list[MountEntry]) -> list[MountEntry]:
        """One entry per mount point: the last, i.e. the one mounted on top."""
        top: dict[str, MountEntry] = {}
        for entry in entries:
            top.pop(entry.mount, None)
            top[entry.mount] = entry
        return list(top.values())

    def _relevant(self, entry: MountEntry) -> bool:
        if entry.mount == "/":
            return True
        if entry.fstype in self.ignore_fstypes:
            return False
        return not any(_under(entry.mount, t) for t in _KERNEL_TREES)

    # -- classification ---------------------------------------------------------------

    def classify(self, entry: MountEntry, links: _DiskLinks | None = None) -> Volume:
        """The Volume for one mountinfo entry (rules in the module docstring)."""
        links = links or _DiskLinks(self.dev_root)
        source = entry.source
        if self._is_network(entry.fstype, source):
            return Volume(entry.mount, "network", entry.fstype, source, label=source or None)
        block = self._block(entry)
        kind = self._kind(entry, block)
        label, serial = self._identity(block, kind, links) if block else (None, None)
        return Volume(entry.mount, kind, entry.fstype, source, label, serial)

    def _is_network(self, fstype: str, source: str) -> bool:
        if fstype in self.network_fstypes:
            return True
        if fstype == "fuse" or fstype.startswith("fuse."):
            # sshfs/rclone-like helpers not in the list: "//host/share", "host:path"
            return source.startswith("//") or (":" in source and not source.startswith("/"))
        return False

    def _kind(self, entry: MountEntry, block: _Block | None) -> VolumeKind:
        if block is not None and self._is_optical(block):
            return "optical"
        if _matches_any(entry.mount, self.removable_mounts):
            return "removable"
        if block is not None:
            return "removable" if self._is_removable(block) else "fixed"
        return "fixed" if entry.fstype in LOCAL_FSTYPES else "unknown"

    @staticmethod
    def _is_optical(block: _Block) -> bool:
        return bool(block.name and block.name.startswith("sr")) or bool(
            block.majmin and block.majmin.startswith("11:")
        )

    def _is_removable(self, block: _Block, depth: int = 0) -> bool:
        disk = block.disk
        disk_name = os.path.basename(disk) if disk else (block.name or "")
        if disk_name.startswith("mmcblk"):
            # SD cards; eMMC (device/type "MMC") is soldered-on internal storage
            return _read(os.path.join(disk, "device", "type")) != "MMC" if disk else True
        if disk is not None:
            if _read(os.path.join(disk, "removable")) == "1":
                return True
            if "/usb" in self._sys_relative(disk) or self._parent_says_removable(disk):
                return True
        if depth < 4:
            return any(self._is_removable(s, depth + 1) for s in self._slaves(block))
        return False

    def _parent_says_removable(self, disk: str) -> bool:
        """A USB/PCI parent's ``removable`` attribute ("removable", "fixed", "unknown")."""
        return any(_read(os.path.join(d, "removable")) == "removable" for d in self._parents(disk))

    def _parents(self, path: str) -> Iterator[str]:
        """The sysfs device directories above ``path``, nearest first."""
        top = os.path.join(os.path.realpath(self.sys_root), "devices")
        current = os.path.dirname(path)
        for _ in range(32):
            if not _under(current, top) or current == top:
                return
            yield current
            current = os.path.dirname(current)

    def _sys_relative(self, path: str) -> str:
        root = os.path.realpath(self.sys_root)
        return path[len(root) :] if _under(path, root) else path

    # -- resolving the device ---------------------------------------------------------

    def _block(self, entry: MountEntry) -> _Block | None:
        majmin: str | None = entry.majmin if entry.major != 0 else None
        path = self._sysfs_block(majmin) if majmin else None
        dev_name = self._dev_name(entry.source) if entry.source.startswith("/dev/") else None
        if path is None and dev_name:
            # anonymous device (btrfs, ...) or no sysfs entry: go by the source's node
            found = _read(os.path.join(self.sys_root, "class", "block", dev_name, "dev"))
            if found and self._sysfs_block(found):
                majmin, path = found, self._sysfs_block(found)
        if majmin is None and path is None and dev_name is None:
            return None
        name = os.path.basename(path) if path else dev_name
        return _Block(majmin, name, path, self._disk_of(path) if path else None)

    def _sysfs_block(self, majmin: str) -> str | None:
        link = os.path.join(self.sys_root, "dev", "block", majmin)
        if not os.path.exists(link):
            return None
        return os.path.realpath(link)

    def _dev_name(self, source: str) -> str | None:
        """Kernel name of a /dev node (symlinks like /dev/mapper/x -> ../dm-0 followed)."""
        node = os.path.join(self.dev_root, source[len("/dev/") :])
        return os.path.basename(os.path.realpath(node)) or None

    @staticmethod
    def _disk_of(path: str) -> str:
        """The whole disk's sysfs directory (the parent of a partition)."""
        parent = os.path.dirname(path)
        if os.path.exists(os.path.join(path, "partition")):
            return parent
        if os.path.basename(parent) != "block" and os.path.exists(
            os.path.join(parent, "removable")
        ):
            return parent
        return path

    def _slaves(self, block: _Block) -> list[_Block]:
        """The devices under a dm/md device (LUKS, LVM, RAID)."""
        if not block.path:
            return []
        directory = os.path.join(block.path, "slaves")
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return []
        slaves = []
        for n in names:
            path = os.path.realpath(os.path.join(directory, n))
            majmin = _read(os.path.join(path, "dev"))
            slaves.append(_Block(majmin, os.path.basename(path), path, self._disk_of(path)))
        return slaves

    # -- label and serial -------------------------------------------------------------

    def _udev(self, block: _Block) -> dict[str, str]:
        if not block.majmin:
            return {}
        return _read_udev(os.path.join(self.udev_data, f"b{block.majmin}"))

    def _identity(
        self, block: _Block, kind: VolumeKind, links: _DiskLinks
    ) -> tuple[str | None, str | None]:
        udev = self._udev(block)
        enc = udev.get("ID_FS_LABEL_ENC")
        label = (unescape_udev(enc) if enc else udev.get("ID_FS_LABEL")) or links.lookup(
            "by-label", block.name
        )
        uuid = udev.get("ID_FS_UUID") or links.lookup("by-uuid", block.name)
        if kind == "optical":
            return label, uuid or self._hardware_serial(block, udev)
        return label, self._hardware_serial(block, udev) or uuid

    def _hardware_serial(
        self, block: _Block, udev: dict[str, str] | None = None, depth: int = 0
    ) -> str | None:
        udev = self._udev(block) if udev is None else udev
        serial = udev.get("ID_SERIAL_SHORT")
        if serial:
            return serial.strip() or None
        if block.disk:
            serial = _read(os.path.join(block.disk, "device", "serial")) or self._usb_serial(
                block.disk
            )
            if serial:
                return serial
        if depth < 4:
            for slave in self._slaves(block):
                serial = self._hardware_serial(slave, depth=depth + 1)
                if serial:
                    return serial
        return None

    def _usb_serial(self, disk: str) -> str | None:
        """The ``serial`` of the nearest USB device above the disk (not of hubs above it)."""
        for directory in self._parents(disk):
            if os.path.exists(os.path.join(directory, "idVendor")):
                return _read(os.path.join(directory, "serial"))
        return None


# -- macOS ----------------------------------------------------------------------------------

_MAC_MOUNT = re.compile(r"^(?P<device>.+?) on (?P<mount>/.*?) \((?P<options>[^()]*)\)$")
MAC_IGNORE_FSTYPES = frozenset({"devfs", "autofs", "fdesc", "volfs", "nullfs"})
MAC_NETWORK_FSTYPES = NETWORK_FSTYPES | {"smbfs", "nfs", "afpfs", "webdav", "ftp", "cifs"}
MAC_OPTICAL_FSTYPES = frozenset({"cd9660", "udf", "cddafs"})


def _run_text(argv: list[str], timeout: float = 10.0) -> str | None:
    """stdout of a short command, or None when it cannot run or fails."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


class MacVolumes:
    """Volumes from ``mount`` output. Mounts under /Volumes are removable media or shares
    unless they are the boot volume or ``diskutil`` says they are internal, fixed disks.

    ``run`` (argv -> stdout or None) is the seam for tests.
    """

    def __init__(
        self,
        removable_mounts: Sequence[str] = (),
        run: Callable[[list[str]], str | None] | None = None,
    ):
        self.removable_mounts = tuple(removable_mounts)
        self._run = run or _run_text
        self._info: dict[tuple[str, str], dict] = {}  # diskutil answers, one per volume
        self.warnings: list[str] = []

    def volumes(self) -> list[Volume]:
        out = self._run(["/sbin/mount"])
        if out is None:
            self.warnings = ["cannot run /sbin/mount"]
            return []
        self.warnings = []
        result = []
        for line in out.splitlines():
            if not line.strip():
                continue
            m = _MAC_MOUNT.match(line)
            if m is None:
                self.warnings.append(f"mount line skipped: {line[:200]}")
                continue
            options = [o.strip() for o in m["options"].split(",")]
            volume = self._classify(m["device"], m["mount"], options[0], options[1:])
            if volume is not None:
                result.append(volume)
        live = {(v.device, v.mount) for v in result}
        self._info = {k: v for k, v in self._info.items() if k in live}
        return result

    def _classify(self, device: str, mount: str, fstype: str, options: list[str]) -> Volume | None:
        if fstype in MAC_IGNORE_FSTYPES and mount != "/":
            return None
        in_volumes = _under(mount, "/Volumes") and mount != "/Volumes"
        if fstype in MAC_NETWORK_FSTYPES or (in_volumes and "local" not in options):
            return Volume(mount, "network", fstype, device, label=device or None)
        name = os.path.basename(mount) or None
        if fstype in MAC_OPTICAL_FSTYPES:
            info = self._diskutil(device, mount)
            label = info.get("VolumeName") or name
            return Volume(mount, "optical", fstype, device, label, info.get("VolumeUUID"))
        if in_volumes and "rootfs" not in options:
            info = self._diskutil(device, mount)
            internal_disk = info.get("Internal") is True and not (
                info.get("Ejectable") or info.get("RemovableMedia") or info.get("Removable")
            )
            kind: VolumeKind = "fixed" if internal_disk else "removable"
            serial = info.get("VolumeUUID") or info.get("DiskUUID")
            return Volume(mount, kind, fstype, device, info.get("VolumeName") or name, serial)
        kind = "removable" if _matches_any(mount, self.removable_mounts) else "fixed"
        return Volume(mount, kind, fstype, device)

    def _diskutil(self, device: str, mount: str) -> dict:
        if not device.startswith("/dev/disk"):
            return {}
        key = (device, mount)
        if key not in self._info:
            out = self._run(["/usr/sbin/diskutil", "info", "-plist", device])
            try:
                info = plistlib.loads(out.encode("utf-8")) if out else {}
            except Exception:  # plistlib raises several types on junk
                info = {}
            self._info[key] = info if isinstance(info, dict) else {}
        return self._info[key]


# -- Windows --------------------------------------------------------------------------------

DRIVE_UNKNOWN = 0
DRIVE_NO_ROOT_DIR = 1
DRIVE_REMOVABLE = 2
DRIVE_FIXED = 3
DRIVE_REMOTE = 4
DRIVE_CDROM = 5
DRIVE_RAMDISK = 6
#: STORAGE_BUS_TYPE values of media that leave with their owner: 1394, USB, SD, MMC.
REMOVABLE_BUS_TYPES = frozenset({4, 7, 12, 13})
_IOCTL_STORAGE_QUERY_PROPERTY = 0x2D1400
_INVALID_HANDLES = (None, 0, -1, 2**32 - 1, 2**64 - 1)
_SEM_FAILCRITICALERRORS = 0x0001
_SEM_NOOPENFILEERRORBOX = 0x8000


def format_volume_serial(serial: int) -> str:
    """A FAT/NTFS volume serial as Windows shows it: ``1234-ABCD``."""
    return f"{(serial >> 16) & 0xFFFF:04X}-{serial & 0xFFFF:04X}"


def parse_storage_descriptor(raw: bytes) -> tuple[int | None, str | None]:
    """(BusType, serial number) from a STORAGE_DEVICE_DESCRIPTOR."""
    if len(raw) < 36:
        return None, None
    serial_offset, bus = struct.unpack_from("<II", raw, 24)
    serial = None
    if 0 < serial_offset < len(raw):
        end = raw.find(b"\0", serial_offset)
        text = raw[serial_offset : end if end >= 0 else len(raw)]
        serial = text.decode("ascii", "replace").strip() or None
    return bus, serial


def windows_kind(drive_type: int, bus_type: int | None, pattern_match: bool) -> VolumeKind:
    """GetDriveTypeW's answer, corrected for USB hard disks (which say DRIVE_FIXED)."""
    if drive_type == DRIVE_REMOTE:
        return "network"
    if drive_type == DRIVE_CDROM:
        return "optical"
    if drive_type == DRIVE_REMOVABLE or pattern_match:
        return "removable"
    if drive_type == DRIVE_FIXED:
        return "removable" if bus_type in REMOVABLE_BUS_TYPES else "fixed"
    if drive_type == DRIVE_RAMDISK:
        return "fixed"
    return "unknown"


class WindowsVolumes:
    """Drive letters through kernel32 (ctypes). ``ctypes.WinDLL`` is only touched inside
    methods, so this imports anywhere; ``kernel32``/``mpr`` are seams for tests.

    Folder mount points (C:\\mnt\\stick) are not listed. Network drives are not asked for
    volume information: that can block for a long time when the server is gone.
    """

    def __init__(self, removable_mounts: Sequence[str] = (), kernel32=None, mpr=None):
        self.removable_mounts = tuple(removable_mounts)
        self._kernel32 = kernel32
        self._mpr = mpr
        self.warnings: list[str] = []

    def _k(self):
        if self._kernel32 is None:
            import ctypes

            self._kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
            self._kernel32.CreateFileW.restype = ctypes.c_void_p
        return self._kernel32

    def volumes(self) -> list[Volume]:
        import ctypes

        self.warnings = []
        try:
            k = self._k()
        except (OSError, AttributeError) as e:
            self.warnings = [f"kernel32 unavailable: {e}"]
            return []
        set_mode = getattr(k, "SetThreadErrorMode", None)
        old = ctypes.c_uint32(0)
        if set_mode is not None:  # no "insert a disk" dialogs for empty card readers
            set_mode(_SEM_FAILCRITICALERRORS | _SEM_NOOPENFILEERRORBOX, ctypes.pointer(old))
        try:
            result = []
            for root in self._roots(k):
                try:
                    volume = self._volume(k, root)
                except Exception as e:  # one odd drive must not cost the agent all volumes
                    self.warnings.append(f"{root}: {e!r}")
                    continue
                if volume is not None:
                    result.append(volume)
            return result
        finally:
            if set_mode is not None:
                set_mode(old.value, None)

    @staticmethod
    def _roots(k) -> list[str]:
        import ctypes

        buf = ctypes.create_unicode_buffer(1024)
        n = k.GetLogicalDriveStringsW(len(buf), buf)
        if not n or n > len(buf):
            return []
        return [r for r in buf[:n].split("\0") if r]

    def _volume(self, k, root: str) -> Volume | None:
        drive_type = k.GetDriveTypeW(root)
        if drive_type in (DRIVE_UNKNOWN, DRIVE_NO_ROOT_DIR):
            return None
        if drive_type == DRIVE_REMOTE:
            unc = self._unc(root)
            return Volume(root, "network", "remote", unc or root, label=unc)
        info = self._volume_info(k, root)
        if info is None and drive_type in (DRIVE_REMOVABLE, DRIVE_CDROM):
            return None  # no medium in the drive
        label, volume_serial, fstype = info or (None, None, "")
        device = self._guid_path(k, root) or f"{root}{volume_serial or ''}"
        bus, hardware_serial = (None, None)
        if drive_type in (DRIVE_FIXED, DRIVE_REMOVABLE):
            bus, hardware_serial = self._storage(k, root)
        kind = windows_kind(drive_type, bus, _matches_any(root, self.removable_mounts))
        serial = volume_serial if kind == "optical" else (hardware_serial or volume_serial)
        return Volume(root, kind, fstype, device, label, serial)

    @staticmethod
    def _volume_info(k, root: str) -> tuple[str | None, str | None, str] | None:
        import ctypes

        name = ctypes.create_unicode_buffer(261)
        fs = ctypes.create_unicode_buffer(261)
        serial = ctypes.c_uint32(0)
        ok = k.GetVolumeInformationW(
            root, name, len(name), ctypes.pointer(serial), None, None, fs, len(fs)
        )
        if not ok:
            return None
        vs = format_volume_serial(serial.value) if serial.value else None
        return name.value or None, vs, fs.value

    @staticmethod
    def _guid_path(k, root: str) -> str | None:
        import ctypes

        buf = ctypes.create_unicode_buffer(64)
        fn = getattr(k, "GetVolumeNameForVolumeMountPointW", None)
        if fn is None or not fn(root, buf, len(buf)):
            return None
        return buf.value or None

    @staticmethod
    def _storage(k, root: str) -> tuple[int | None, str | None]:
        """Bus type and hardware serial via IOCTL_STORAGE_QUERY_PROPERTY."""
        import ctypes

        path = "\\\\.\\" + root.rstrip("\\")  # \\.\E:
        handle = k.CreateFileW(path, 0, 3, None, 3, 0, None)  # share r/w, OPEN_EXISTING
        if handle in _INVALID_HANDLES:
            return None, None
        try:
            query = (ctypes.c_uint32 * 3)(0, 0, 0)  # StorageDeviceProperty, standard query
            buf = ctypes.create_string_buffer(1024)
            returned = ctypes.c_uint32(0)
            ok = k.DeviceIoControl(
                ctypes.c_void_p(handle),
                _IOCTL_STORAGE_QUERY_PROPERTY,
                query,
                ctypes.sizeof(query),
                buf,
                len(buf),
                ctypes.pointer(returned),
                None,
            )
            if not ok:
                return None, None
            return parse_storage_descriptor(buf.raw[: returned.value])
        finally:
            k.CloseHandle(ctypes.c_void_p(handle))

    def _unc(self, root: str) -> str | None:
        """The share behind a mapped drive letter (WNetGetConnectionW)."""
        import ctypes

        try:
            if self._mpr is None:
                self._mpr = ctypes.WinDLL("mpr")  # type: ignore[attr-defined]
            buf = ctypes.create_unicode_buffer(1024)
            size = ctypes.c_uint32(len(buf))
            rc = self._mpr.WNetGetConnectionW(root.rstrip("\\"), buf, ctypes.pointer(size))
        except (OSError, AttributeError):
            return None
        return (buf.value or None) if rc == 0 else None


class NoVolumes:
    """For platforms without a source: no volumes, so every file's volume is "unknown"."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def volumes(self) -> list[Volume]:
        return []


def default_source(removable_mounts: Sequence[str] = ()) -> VolumeSource:
    """The source for this platform."""
    if sys.platform.startswith("linux"):
        return LinuxVolumes(removable_mounts=removable_mounts)
    if sys.platform == "darwin":
        return MacVolumes(removable_mounts)
    if sys.platform == "win32":
        return WindowsVolumes(removable_mounts)
    return NoVolumes()


# -- the table and the monitor --------------------------------------------------------------


def _key(volume: Volume) -> tuple[str, str]:
    return volume.mount, volume.device


def _norm(path: str) -> str:
    return os.path.normcase(os.path.normpath(path))


class VolumeTable:
    """The current volumes, refreshed on demand; answers which volume a path is on (longest
    mount-point prefix, path-component aware: /media/a must not match /media/ab).

    Thread-safe: refreshes are serialised and readers see one consistent snapshot.
    """

    def __init__(self, source: VolumeSource):
        self.source = source
        self._lock = threading.Lock()
        self._volumes: tuple[Volume, ...] = ()
        self._index: tuple[tuple[str, Volume], ...] = ()  # (normalised mount, volume)
        self.refreshed = False

    def refresh(self) -> tuple[list[Volume], list[Volume]]:
        """Re-read the source; (added, removed) since the last refresh, by mount + device."""
        with self._lock:
            fresh = list({_key(v): v for v in self.source.volumes()}.values())
            old_keys = {_key(v) for v in self._volumes}
            new_keys = {_key(v) for v in fresh}
            added = [v for v in fresh if _key(v) not in old_keys]
            removed = [v for v in self._volumes if _key(v) not in new_keys]
            index = sorted(((_norm(v.mount), v) for v in fresh), key=lambda p: -len(p[0]))
            self._volumes, self._index = tuple(fresh), tuple(index)
            self.refreshed = True
        return added, removed

    def volume_for(self, path: str) -> Volume | None:
        """The volume holding ``path`` (made absolute, not resolved: no I/O), or None."""
        target = _norm(os.path.abspath(path))
        for mount, volume in self._index:
            if _under(target, mount):
                return volume
        return None

    def current(self) -> list[Volume]:
        return list(self._volumes)


class MountMonitor:
    """Calls on_change(added, removed) when volumes appear or go. On Linux it blocks in
    select.poll on /proc/self/mountinfo (the kernel signals POLLPRI|POLLERR on every mount
    change), with a fallback to polling every `interval` seconds elsewhere or if poll fails.
    Runs in a daemon thread; start()/stop(); stop() returns promptly (<1 s).

    In poll mode the table is still re-read every ``max(interval, 60)`` seconds, a safety
    net for kernels or sandboxes where the file opens but never signals. ``mode`` says
    which way the running monitor waits ("poll" or "interval").
    """

    SAFETY_SECONDS = 60.0

    def __init__(
        self,
        table: VolumeTable,
        on_change: Callable[[list[Volume], list[Volume]], None],
        interval: float = 2.0,
        mountinfo: str = "/proc/self/mountinfo",
    ):
        self.table = table
        self.on_change = on_change
        self.interval = interval
        self.mountinfo = mountinfo
        self.mode: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the wake-up pipe's write end
        self._wake_w: int | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        watch = self._open_watch()  # before the baseline, so no change falls in between
        if not self.table.refreshed:
            self.table.refresh()  # the volumes present at start are not news
        self.mode = "poll" if watch else "interval"
        self._thread = threading.Thread(
            target=self._run, args=(watch,), name="hashwatch-mounts", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        with self._lock:
            if self._wake_w is not None:
                try:
                    os.write(self._wake_w, b"x")
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout)

    # -- internals --------------------------------------------------------------------

    def _open_watch(self) -> tuple[select.poll, int, int] | None:
        """(poller, mountinfo fd, wake-up read fd), or None where polling mountinfo is out."""
        if not sys.platform.startswith("linux") or not hasattr(select, "poll"):
            return None
        try:
            fd = os.open(self.mountinfo, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            log.debug(
                "cannot watch %s (%s): polling every %.1f s", self.mountinfo, e, self.interval
            )
            return None
        wake_r, wake_w = os.pipe()
        poller = select.poll()
        poller.register(fd, select.POLLPRI | select.POLLERR)
        poller.register(wake_r, select.POLLIN)
        with self._lock:
            self._wake_w = wake_w
        return poller, fd, wake_r

    def _run(self, watch: tuple[select.poll, int, int] | None) -> None:
        try:
            self._check()  # changes between the table's last refresh and now
            if watch is not None and self._wait_poll(*watch):
                return
            self.mode = "interval"
            while not self._stop.wait(self.interval):
                self._check()
        finally:
            self._close(watch)

    def _wait_poll(self, poller: select.poll, fd: int, wake_r: int) -> bool:
        """Wait for mount events until stopped (True) or polling fails (False)."""
        timeout_ms = int(max(self.interval, self.SAFETY_SECONDS) * 1000)
        while not self._stop.is_set():
            try:
                events = poller.poll(timeout_ms)
            except OSError as e:
                log.warning("poll on %s failed (%s): falling back to intervals", self.mountinfo, e)
                return False
            if self._stop.is_set():
                return True
            if any(ev & select.POLLNVAL for _, ev in events):
                log.warning("cannot poll %s: polling every %.1f s", self.mountinfo, self.interval)
                return False
            self._check()
        return True

    def _check(self) -> None:
        try:
            added, removed = self.table.refresh()
        except Exception:
            log.exception("reading the mounted volumes failed")
            return
        if not (added or removed):
            return
        try:
            self.on_change(added, removed)
        except Exception:
            log.exception("volume change handler failed")

    def _close(self, watch: tuple[select.poll, int, int] | None) -> None:
        if watch is None:
            return
        _, fd, wake_r = watch
        with self._lock:
            wake_w, self._wake_w = self._wake_w, None
        for f in (fd, wake_r, wake_w):
            if f is not None:
                try:
                    os.close(f)
                except OSError:
                    pass
