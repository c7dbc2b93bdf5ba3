"""Label values from a segmentation network's per-channel output (the largest channel at
each voxel), without numpy's argmax over strided memory."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np


def channel_labels(logits: np.ndarray, values: np.ndarray, threads: int = 1,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Label value of the largest channel at each voxel: ``logits`` is ``(C, *spatial)``,
    ``values[c]`` the label of channel ``c``; returns uint8 ``spatial``.

    A running maximum over the channels, where ``np.argmax(logits, axis=0)`` walks C-strided
    memory (4.1 s on an 18-channel 256^3 output, against 0.75 s, both under load) and returns
    int64 indices (8 bytes a voxel) still to be mapped.
    Same labels as ``values[np.argmax(logits, 0)]`` for finite logits, ties included (a later
    channel wins only when strictly larger: the first maximum, as argmax); NaN logits are
    skipped (np.nanargmax's choice; an all-NaN voxel gets channel 0). Done in blocks of
    voxels that stay in cache, shared among ``threads`` (numpy's ufuncs release the GIL);
    ``logits`` is only read. ``out``: a C-contiguous uint8 array of ``spatial``'s size to
    write into (e.g. shared memory)."""
    c_n = logits.shape[0]
    flat = logits.reshape(c_n, -1)  # a view for the runner's contiguous output
    out = np.empty(flat.shape[1], dtype=np.uint8) if out is None else out.reshape(-1)
    step = 1 << 17  # voxels per block: its maximum, mask and channel slice stay in L2 cache

    def part(starts) -> None:
        best = np.empty(step, dtype=np.float32)
        wins = np.empty(step, dtype=bool)
        for s in starts:
            n = min(step, flat.shape[1] - s)
            b, w, o = best[:n], wins[:n], out[s:s + n]
            b.fill(-np.inf)
            np.fmax(b, flat[0, s:s + n], out=b)  # fmax: a NaN never becomes the maximum
            o.fill(values[0])
            for c in range(1, c_n):
                np.greater(flat[c, s:s + n], b, out=w)  # strictly: the first maximum wins
                np.copyto(o, values[c], where=w)
                np.fmax(b, flat[c, s:s + n], out=b)

    blocks = range(0, flat.shape[1], step)
    if threads < 2 or len(blocks) < 2:
        part(blocks)
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="labels") as pool:
            for f in [pool.submit(part, blocks[w::threads]) for w in range(threads)]:
                f.result()
    return out.reshape(logits.shape[1:])
