"""The spatial decoder's per-pixel MLP on the CPU, evaluated in cache-sized blocks.

The spatial decoder runs a tanh MLP at every pixel of every pattern: (batch * pixels, hidden)
activations of tens of MB, which PyTorch's autograd writes out and reads back for every bias
add, tanh and tanh derivative. Here forward and backward go block by block (about
``BLOCK_ROWS`` pixels, one or more image rows of one pattern or several whole patterns), so
each product's output is activated while it is still in cache; only the tanh outputs that
the backward pass needs are stored. The first layer exploits the regular pixel grid: its
pre-activation at pixel (row, col) of pattern b is ``X[b, col] + Y[b, row]`` (one broadcast
add, no K = 2 product). Same arithmetic as the autograd version (tested to float32 rounding).
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import threading
import weakref

import torch

BLOCK_ROWS = 2048  # pixels per block: 2048 x 128 float32 activations = 1 MiB (L2-sized)

Block = tuple[int, int, int, int]  # patterns b0:b1, image rows r0:r1


def blocks(batch: int, shape: tuple[int, int], block_rows: int = BLOCK_ROWS) -> list[Block]:
    """Split (batch, ky, kx) pixels into blocks of about ``block_rows`` pixels: whole
    patterns grouped when a pattern is small, bands of image rows when it is large."""
    ky, kx = shape
    if ky * kx <= block_rows:
        per = max(block_rows // (ky * kx), 1)
        return [(b, min(b + per, batch), 0, ky) for b in range(0, batch, per)]
    rows = max(block_rows // kx, 1)
    return [(b, b + 1, r, min(r + rows, ky)) for b in range(batch) for r in range(0, ky, rows)]


def _spans(batch: int, shape: tuple[int, int]) -> Iterator[tuple[Block, slice]]:
    """Each block with its slice of the flattened (batch * ky * kx) pixel rows."""
    ky, kx = shape
    for b0, b1, r0, r1 in blocks(batch, shape):
        start = (b0 * ky + r0) * kx
        stop = start + (b1 - b0) * (r1 - r0) * kx
        yield (b0, b1, r0, r1), slice(start, stop)


class _Buffers:
    """Reused activation storage: a fresh tens-of-MB tensor per step costs page faults
    (the allocator returns large blocks to the system; measured: a quarter of the float32
    step at 64 x 64). A set is owned by one forward until its backward ran or its graph was
    dropped; the trainer empties the pool when a fit ends."""

    def __init__(self) -> None:
        self.free: dict[tuple, list[list[torch.Tensor]]] = {}
        self.lock = threading.Lock()

    def take(self, key: tuple, make: Callable[[], list[torch.Tensor]]) -> list[torch.Tensor]:
        with self.lock:
            sets = self.free.get(key)
            if sets:
                return sets.pop()
        return make()

    def give(self, key: tuple, acts: list[torch.Tensor]) -> None:
        with self.lock:
            if key not in self.free:
                self.free = {key: []}   # keep only the shape in use
            if len(self.free[key]) < 2:
                self.free[key].append(acts)

    def clear(self) -> None:
        with self.lock:
            self.free = {}


BUFFERS = _Buffers()


def release_buffers() -> None:
    """Hand the pooled activation buffers back to the allocator (end of a fit)."""
    BUFFERS.clear()


class _Owner:
    """The forward pass that holds a buffer set; it goes back to the pool once."""

    def __init__(self, key: tuple, acts: list[torch.Tensor]) -> None:
        self.key, self.acts, self.done = key, acts, False

    def release(self) -> None:
        """After the backward pass: back to the pool for the next training step."""
        if not self.done:
            self.done = True
            BUFFERS.give(self.key, self.acts)

    def drop(self) -> None:
        """Graph dropped without a backward (not a training step): leave the set to the
        allocator."""
        self.done = True


class PixelMLP(torch.autograd.Function):
    """tanh(X[b, col] + Y[b, row]) -> [Linear, tanh] x n -> Linear(hidden, 1), per pixel.

    Inputs: X (B, kx, H) and Y (B, ky, H), the first layer's column and row terms; the
    output weight (1, H) and bias (1,); then weight, bias of each hidden layer. Returns
    (B * ky * kx,) pre-activation outputs, rows in row-major pixel order.
    """

    @staticmethod
    def forward(ctx, X: torch.Tensor, Y: torch.Tensor, w_out: torch.Tensor,
                b_out: torch.Tensor, *hidden: torch.Tensor) -> torch.Tensor:
        batch, kx, width = X.shape
        shape = (Y.shape[1], kx)
        n, n_acts = batch * shape[0] * kx, len(hidden) // 2 + 1
        grad = any(ctx.needs_input_grad)
        if grad:  # the backward pass needs every tanh output
            key = (n, width, X.dtype, n_acts)
            acts = BUFFERS.take(key, lambda: [X.new_empty(n, width) for _ in range(n_acts)])
        else:     # inference: one block's worth of scratch
            most = max(r.stop - r.start for _, r in _spans(batch, shape))
            acts = [X.new_empty(most, width) for _ in range(n_acts)]
        y = X.new_empty(n)
        for (b0, b1, r0, r1), rows in _spans(batch, shape):
            here = rows if grad else slice(0, rows.stop - rows.start)
            h = acts[0][here].view(b1 - b0, r1 - r0, kx, width)
            torch.add(Y[b0:b1, r0:r1, None, :], X[b0:b1, None, :, :], out=h)
            h = torch.tanh_(h.view(-1, width))
            for k in range(0, len(hidden), 2):
                nxt = acts[k // 2 + 1][here]
                torch.addmm(hidden[k + 1], h, hidden[k].t(), out=nxt)
                h = torch.tanh_(nxt)
            torch.addmv(b_out, h, w_out[0], out=y[rows])
        if grad:
            ctx.save_for_backward(w_out, *hidden)
            ctx.acts, ctx.layout = acts, (batch, shape, len(hidden) // 2)
            ctx.owner = _Owner(key, acts)
            weakref.finalize(ctx, ctx.owner.drop)   # graph dropped without a backward
        return y

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        batch, shape, n_hidden = ctx.layout
        if ctx.owner.done:
            raise RuntimeError("the spatial decoder's CPU path frees its activations after "
                               "one backward pass; do not use retain_graph=True with it")
        saved = ctx.saved_tensors
        w_out, hidden, acts = saved[0], saved[1:], ctx.acts
        width = w_out.shape[1]
        grad_y = grad_y.contiguous()
        f32 = dict(dtype=torch.float32, device=grad_y.device)  # sums over blocks
        g_X = torch.zeros(batch, shape[1], width, **f32)
        g_Y = torch.zeros(batch, shape[0], width, **f32)
        g_hidden = [torch.zeros(p.shape, **f32) for p in hidden]
        g_w_out = torch.mv(acts[-1].t(), grad_y).unsqueeze(0)
        g_b_out = grad_y.float().sum().reshape(1)
        for (b0, b1, r0, r1), rows in _spans(batch, shape):
            g = torch.outer(grad_y[rows], w_out[0])
            for k in range(n_hidden, 0, -1):
                g = torch.ops.aten.tanh_backward(g, acts[k][rows])
                _add_product(g_hidden[2 * k - 2], g.t(), acts[k - 1][rows])
                g_hidden[2 * k - 1].add_(g.sum(0))
                g = torch.mm(g, hidden[2 * k - 2])
            g = torch.ops.aten.tanh_backward(g, acts[0][rows])
            g = g.view(b1 - b0, r1 - r0, shape[1], width)
            g_X[b0:b1] += g.sum(1)
            g_Y[b0:b1, r0:r1] += g.sum(2)
        dtype = grad_y.dtype
        g_hidden = [g.to(dtype) for g in g_hidden]
        g_X, g_Y, g_b_out = g_X.to(dtype), g_Y.to(dtype), g_b_out.to(dtype)
        ctx.owner.release()
        return (g_X, g_Y, g_w_out, g_b_out, *g_hidden)


def _add_product(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """acc += a @ b; acc is float32, a and b float32 or bf16 (then the block's product is
    rounded to bf16 once, as under autocast, and summed over blocks in float32)."""
    if a.dtype == acc.dtype:
        torch.addmm(acc, a, b, out=acc)   # out= form: counted by FlopCounterMode
    else:
        acc.add_(torch.mm(a, b))


def pixel_mlp(X: torch.Tensor, Y: torch.Tensor, out: torch.nn.Linear,
              hidden: Sequence[torch.nn.Linear]) -> torch.Tensor:
    """Apply :class:`PixelMLP` with the weights of the given layers (see there), in the
    dtype of ``X`` (bf16 under CPU autocast: products and tanh in bf16, as autocast would)."""
    dtype = X.dtype
    params = [t.to(dtype) for layer in hidden for t in (layer.weight, layer.bias)]
    return PixelMLP.apply(X.contiguous(), Y.to(dtype).contiguous(), out.weight.to(dtype),
                          out.bias.to(dtype), *params)


__all__ = ["BLOCK_ROWS", "blocks", "PixelMLP", "pixel_mlp", "release_buffers"]
