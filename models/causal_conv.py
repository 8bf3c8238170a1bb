"""Causal convolution over time and space for spike steps, with its input history as state.

A block with ``kernel_t`` taps and dilation ``dilation_t`` sees the current step and the
``(kernel_t − 1)·dilation_t`` steps before it: synaptic delay lines, as in a TDNN. Streaming keeps
exactly those past inputs as state, so feeding a sequence whole or one step at a time gives the
same outputs, and each output step is computed once. With ``kernel_t = 1`` it is a plain
per-step spatial convolution (no state).

Shapes: input ``[T, B, C, *spatial]`` (spatial = ``(F,)`` for audio or ``(H, W)`` for vision),
output ``[T, B, C_out, *spatial]`` (``padding = kernel_s // 2`` keeps spatial sizes).
"""

from __future__ import annotations

import torch
from torch import nn


class CausalConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int, kernel_s: int, kernel_t: int = 1, dilation_t: int = 1) -> None:
        super().__init__()
        if kernel_t < 1 or dilation_t < 1:
            raise ValueError(f"kernel_t and dilation_t must be >= 1, got {kernel_t}, {dilation_t}")
        self.spatial_dims = spatial_dims
        self.history_steps = (kernel_t - 1) * dilation_t
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
        if kernel_t == 1:
            self.conv = conv[spatial_dims](in_channels, out_channels, kernel_s, padding=kernel_s // 2)
        else:
            self.conv = conv[spatial_dims + 1](
                in_channels,
                out_channels,
                (kernel_t,) + (kernel_s,) * spatial_dims,
                dilation=(dilation_t,) + (1,) * spatial_dims,
                padding=(0,) + (kernel_s // 2,) * spatial_dims,
            )

    def forward(self, x_seq: torch.Tensor, history: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x_seq [T, B, C, *S]`` → ``([T, B, C_out, *S], new history [H, B, C, *S] or None)``."""
        steps, batch = x_seq.shape[:2]
        if self.history_steps == 0:
            out = self.conv(x_seq.reshape((steps * batch,) + tuple(x_seq.shape[2:])))
            return out.reshape((steps, batch) + tuple(out.shape[1:])), None
        if history is None:
            history = x_seq.new_zeros((self.history_steps,) + tuple(x_seq.shape[1:]))
        padded = torch.cat([history, x_seq], dim=0)
        # [T', B, C, *S] → [B, C, T', *S] for an (1 + spatial)-d convolution with time first
        dims = list(range(padded.dim()))
        out = self.conv(padded.permute([1, 2, 0] + dims[3:]))
        out = out.permute([2, 0, 1] + dims[3:])
        return out.contiguous(), padded[-self.history_steps :]
