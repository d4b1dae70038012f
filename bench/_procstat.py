"""Resident memory of the current process (Linux /proc), for the benchmarks and their peers.
Standard library only: the faiss peer imports it from its own interpreter."""


def rss_mb() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out
