import torch

from ggnbench.run.memory import peak_memory


def test_cpu_peak_counts_live_tensor_bytes_exactly():
    def fn():
        a = torch.ones(1000, 1000)  # 4 MB
        b = a * 2  # 4 MB live with a
        del a
        c = b + 1  # 4 MB live with b: the peak stays 8 MB
        return c.sum()  # + 4 bytes for the scalar

    peak, method = peak_memory(fn, torch.device("cpu"))
    assert peak == 2 * 1000 * 1000 * 4 + 4
    assert method == "dispatch_mode_live_storages"


def test_cpu_peak_sees_a_backward_pass():
    w = torch.randn(512, 512, requires_grad=True)
    x = torch.randn(64, 512)
    loss = (x @ w).square().sum()
    peak, _ = peak_memory(lambda: loss.backward(), torch.device("cpu"))
    assert peak >= w.numel() * 4  # at least the gradient of w
