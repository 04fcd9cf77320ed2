"""1x1 convolutions that give the same bits on any number of CPU threads (segment workers use fewer)."""

from __future__ import annotations

import torch

from vsinr.nn.pointwise import Pointwise


def _on_threads(threads: int, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            return module(x)
    finally:
        torch.set_num_threads(before)


def test_pointwise_is_a_1x1_convolution_whose_bits_do_not_depend_on_threads() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(71, 64, 1)
    pointwise = Pointwise(71, 64)
    pointwise.load_state_dict(conv.state_dict())  # the same keys and shapes: weights files load unchanged
    x = torch.randn(1, 71, 256, 352)  # the size at which oneDNN's 1x1 convolution changes with the thread count
    one, two = _on_threads(1, pointwise, x), _on_threads(2, pointwise, x)
    assert torch.equal(one, two) and one.is_contiguous()
    torch.testing.assert_close(one, _on_threads(2, conv, x), rtol=1e-5, atol=1e-5)
    no_bias = Pointwise(8, 3, bias=False)
    small = torch.randn(2, 8, 5, 7, requires_grad=True)
    no_bias(small).sum().backward()  # fits train through it
    assert small.grad is not None and small.grad.shape == small.shape
